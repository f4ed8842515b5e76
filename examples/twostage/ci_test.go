package main

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/artifactregistry/apiv1/artifactregistrypb"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/twostage/twostage/examples/twostage/internal/wfharness"
	"github.com/twostage/twostage/examples/twostage/internal/workflows"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/artifactregistryfake"
	"github.com/twostage/twostage/fake/cloudrunfake"
)

// inProcess runs the CLI in-process against the Cloud Run and Artifact
// Registry emulators.
type inProcess struct {
	t     *testing.T
	env   map[string]string
	clock *fake.Clock
}

func newInProcess(t *testing.T, arOpts ...artifactregistryfake.Option) *inProcess {
	t.Helper()
	crun, err := cloudrunfake.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { crun.Close() })
	ar, err := artifactregistryfake.NewServer(arOpts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ar.Close() })
	return &inProcess{t: t, env: map[string]string{
		"TWOSTAGE_EMULATOR_HOST": "run=" + crun.Addr + ",artifactregistry=" + ar.Addr + ",registry=" + ar.RegistryHost(),
	}, clock: fake.NewClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))}
}

// call runs the CLI and returns the exit code, the JSON envelope (with
// --json) and stderr.
func (p *inProcess) call(env map[string]string, args ...string) (int, map[string]any, string) {
	p.t.Helper()
	var stdout, stderr strings.Builder
	code := runClock(p.t.Context(), args, func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return p.env[k]
	}, &stdout, &stderr, p.clock)
	var r map[string]any
	if strings.Contains(strings.Join(args, " "), "--json") {
		if err := json.Unmarshal([]byte(stdout.String()), &r); err != nil {
			p.t.Fatalf("twostage %v: stdout is not JSON: %v\n%s", args, err, stdout.String())
		}
	}
	return code, r, stderr.String()
}

// TestImageTarDockerSave deploys a `docker save` tarball: the file is
// written by go-containerregistry's tarball package in the docker-save
// layout (manifest.json with Config, RepoTags and Layers; the config and
// each layer as a file), the layout `docker save` writes.
func TestImageTarDockerSave(t *testing.T) {
	t.Parallel()
	p := newInProcess(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "twostage.yaml")
	os.WriteFile(cfg, []byte("project: test-project\nregion: us-central1\nregistry:\n  repository: apps\n  image: api\nservices:\n  dev: api-dev\n  prod: api\n"), 0o644)
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "image.tar")
	if err := tarball.WriteToFile(file, name.MustParseReference("api:local"), img); err != nil {
		t.Fatal(err)
	}
	// The docker save layout, checked rather than assumed.
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(f)
	var manifest []struct {
		Config           string
		RepoTags, Layers []string
	}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "manifest.json" {
			if err := json.NewDecoder(tr).Decode(&manifest); err != nil {
				t.Fatal(err)
			}
		}
	}
	f.Close()
	if len(manifest) != 1 || manifest[0].Config == "" || len(manifest[0].Layers) != 2 || manifest[0].RepoTags[0] != "api:local" {
		t.Fatalf("the tarball is not in docker save layout: manifest.json = %+v", manifest)
	}

	sha := strings.Repeat("c0ffee12", 5)
	code, r, stderr := p.call(nil, "dev", "--image-tar", file, "--sha", sha, "--branch", "main", "--force", "--allow-dirty", "--config", cfg, "--json")
	if code != 0 {
		t.Fatalf("dev --image-tar = %d: %v\n%s", code, r, stderr)
	}
	res := r["result"].(map[string]any)
	if res["revision"] != "api-dev-"+sha[:7] || res["pushed"] != true || !strings.HasPrefix(res["digest"].(string), "sha256:") {
		t.Errorf("dev --image-tar = %v", res)
	}
	// Another image for the same commit is refused (build once).
	other := filepath.Join(dir, "other.tar")
	img2, _ := random.Image(512, 1)
	tarball.WriteToFile(other, name.MustParseReference("api:local"), img2)
	if code, r, _ := p.call(nil, "dev", "--image-tar", other, "--sha", sha, "--branch", "main", "--force", "--allow-dirty", "--config", cfg, "--json"); code != exitPolicy && code != exitFailed || !strings.Contains(r["error"].(string), "sha256:") {
		t.Errorf("a second image for the same commit = %d %v, want a refusal naming the digests", code, r)
	}
}

// TestSignedTagInCI signs a tag with an SSH key, clones the repository
// the way actions/checkout does (the tag arrives lightweight), and runs
// release as the release job would: without the fetch step the CLI says
// the tag is lightweight in this checkout and how to fetch it (exit 3);
// after release.yml's own fetch step, verification succeeds.
func TestSignedTagInCI(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"git", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (%v): SSH-signed tags cannot be made here; install openssh-client to run this test", tool, err)
		}
	}
	p := newInProcess(t)
	tmp := t.TempDir()
	origin := filepath.Join(tmp, "origin")
	os.MkdirAll(origin, 0o755)
	git := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	key := filepath.Join(tmp, "key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "release", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, _ := os.ReadFile(key + ".pub")
	git(origin, "init", "-q", "-b", "main")
	for _, kv := range [][2]string{{"user.email", "dev@example.com"}, {"user.name", "Dev"}, {"gpg.format", "ssh"}, {"user.signingkey", key}, {"uploadpack.allowAnySHA1InWant", "true"}} {
		git(origin, "config", kv[0], kv[1])
	}
	os.WriteFile(filepath.Join(origin, "allowed_signers"), []byte("dev@example.com "+string(pub)), 0o644)
	os.WriteFile(filepath.Join(origin, "twostage.yaml"), []byte("project: test-project\nregion: us-central1\nregistry:\n  repository: apps\n  image: api\nservices:\n  dev: api-dev\n  prod: api\nrelease:\n  signed-tags: true\n  allowed-signers: allowed_signers\n"), 0o644)
	os.MkdirAll(filepath.Join(origin, "dist"), 0o755)
	os.WriteFile(filepath.Join(origin, "dist", "index.html"), []byte("one"), 0o644)
	git(origin, "add", "-A")
	git(origin, "commit", "-q", "-m", "one")
	sha := git(origin, "rev-parse", "HEAD")
	git(origin, "tag", "-s", "v1.0.0", "-m", "signed release")
	if typ := git(origin, "cat-file", "-t", "v1.0.0"); typ != "tag" {
		t.Fatalf("the signed tag is a %s", typ)
	}
	if code, r, stderr := p.call(nil, "dev", "--image-dir", filepath.Join(origin, "dist"), "--config", filepath.Join(origin, "twostage.yaml"), "--json"); code != 0 {
		t.Fatalf("dev = %d %v\n%s", code, r, stderr)
	}

	// The release job's checkout (fetch-depth: 0) leaves the tag lightweight.
	ws := filepath.Join(tmp, "checkout")
	os.MkdirAll(ws, 0o755)
	ev := wfharness.Event{Name: "push", Ref: "refs/tags/v1.0.0", SHA: sha}
	if err := wfharness.Checkout(&wfharness.Step{Workspace: ws, Origin: origin, Event: ev, With: map[string]string{"fetch-depth": "0"}, Env: map[string]string{}, Log: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if typ := git(ws, "cat-file", "-t", "refs/tags/v1.0.0"); typ != "commit" {
		t.Fatalf("after the checkout the tag is a %s object, want the lightweight tag actions/checkout leaves", typ)
	}
	ci := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/tags/v1.0.0", "GITHUB_SHA": sha, "GITHUB_ACTOR": "octocat"}
	cfg := filepath.Join(ws, "twostage.yaml")
	code, r, _ := p.call(ci, "release", "--config", cfg, "--json")
	msg, _ := r["error"].(string)
	if code != exitPolicy || !strings.Contains(msg, "lightweight tag in this checkout") || !strings.Contains(msg, `git fetch --force origin "+refs/tags/v1.0.0:refs/tags/v1.0.0"`) {
		t.Fatalf("release of a lightweight checkout of a signed tag = %d %q, want exit 3 saying so and how to fetch it", code, msg)
	}

	// release.yml's fetch step, as generated, run in bash.
	files, err := workflows.Files(workflows.Params{Project: "p", Region: "r", Repository: "a", Image: "api", DevService: "api-dev", ProdService: "api", Branch: "main", CLI: workflows.Action{SHA: testActionRef}})
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*run: (git fetch --force origin .*)$`).FindStringSubmatch(string(files[".github/workflows/release.yml"]))
	if m == nil {
		t.Fatal("release.yml has no tag fetch step")
	}
	cmd := exec.Command("bash", "-eo", "pipefail", "-c", m[1])
	cmd.Dir, cmd.Env = ws, append(os.Environ(), "TAG=v1.0.0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", m[1], err, out)
	}
	if code, r, stderr := p.call(ci, "release", "--config", cfg, "--json"); code != 0 {
		t.Fatalf("release after the fetch step = %d %v\n%s", code, r, stderr)
	}
}

// gitRepo makes a repository with twostage.yaml and dist/ committed on
// main.
func gitRepo(t *testing.T, config string) (dir string, git func(args ...string) string) {
	t.Helper()
	dir = t.TempDir()
	git = func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	git("config", "user.email", "dev@example.com")
	git("config", "user.name", "Dev")
	os.WriteFile(filepath.Join(dir, "twostage.yaml"), []byte(config), 0o644)
	os.MkdirAll(filepath.Join(dir, "dist"), 0o755)
	os.WriteFile(filepath.Join(dir, "dist", "index.html"), []byte("one"), 0o644)
	git("add", "-A")
	git("commit", "-q", "-m", "one")
	return dir, git
}

const minimalConfig = "project: test-project\nregion: us-central1\nregistry:\n  repository: apps\n  image: api\nservices:\n  dev: api-dev\n  prod: api\n"

// TestLocalRules: outside CI the branch and commit come from git, and a
// dirty working tree is refused (issue 15, item 13; before, both
// deployed).
func TestLocalRules(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	p := newInProcess(t)
	dir, git := gitRepo(t, minimalConfig)
	cfg := filepath.Join(dir, "twostage.yaml")
	dist := filepath.Join(dir, "dist")
	git("checkout", "-q", "-b", "feature")
	code, r, _ := p.call(nil, "dev", "--branch", "main", "--image-dir", dist, "--config", cfg, "--json")
	if msg, _ := r["error"].(string); code != exitPolicy || !strings.Contains(msg, "git says the checkout is on feature") {
		t.Errorf("dev --branch main on feature = %d %q, want exit 3 naming the checked-out branch", code, msg)
	}
	code, _, _ = p.call(nil, "dev", "--image-dir", dist, "--config", cfg, "--json")
	if code != exitPolicy {
		t.Errorf("dev on feature = %d, want 3 (only main deploys)", code)
	}
	git("checkout", "-q", "main")
	os.WriteFile(filepath.Join(dist, "index.html"), []byte("changed"), 0o644)
	code, r, _ = p.call(nil, "dev", "--image-dir", dist, "--config", cfg, "--json")
	if msg, _ := r["error"].(string); code != exitPolicy || !strings.Contains(msg, "uncommitted changes") || !strings.Contains(msg, "--allow-dirty") {
		t.Errorf("dev with a dirty tree = %d %q, want exit 3 with the fix", code, msg)
	}
	if code, r, stderr := p.call(nil, "dev", "--image-dir", dist, "--allow-dirty", "--config", cfg, "--json"); code != 0 {
		t.Errorf("dev --allow-dirty = %d %v\n%s", code, r, stderr)
	}
}

// TestStdoutOnFailure: a refused command prints nothing on stdout (the
// --json envelope only when asked) and its error once on stderr (issue
// 15, item 8; before, a half-empty release block and "refused by policy:
// refused by policy").
func TestStdoutOnFailure(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	p := newInProcess(t)
	dir, git := gitRepo(t, minimalConfig+"release:\n  signed-tags: true\n")
	cfg := filepath.Join(dir, "twostage.yaml")
	if code, r, stderr := p.call(nil, "dev", "--image-dir", filepath.Join(dir, "dist"), "--config", cfg, "--json"); code != 0 {
		t.Fatalf("dev = %d %v\n%s", code, r, stderr)
	}
	git("tag", "-a", "v1.0.0", "-m", "unsigned")
	var stdout, stderr strings.Builder
	code := runClock(t.Context(), []string{"release", "--tag", "v1.0.0", "--config", cfg}, func(k string) string { return p.env[k] }, &stdout, &stderr, p.clock)
	if code != exitPolicy {
		t.Fatalf("release of an unsigned tag = %d, want 3\n%s", code, stderr.String())
	}
	if stdout.String() != "" {
		t.Errorf("a refused release printed on stdout:\n%s", stdout.String())
	}
	if n := strings.Count(stderr.String(), "refused by policy"); n != 1 || strings.Count(stderr.String(), "twostage release:") != 1 {
		t.Errorf("stderr says the error %d times:\n%s", n, stderr.String())
	}
	code, r, _ := p.call(nil, "release", "--tag", "v1.0.0", "--config", cfg, "--json")
	if code != exitPolicy || r["result"] != nil && len(r["result"].(map[string]any)) > 0 && r["result"].(map[string]any)["revision"] == "" {
		t.Errorf("--json of a refused release = %v", r)
	}
}

// TestManualFromFreshCandidate: the promote workflow's "next" and "full"
// on a released candidate with no rollout under way start it (issue 15,
// item 12; before: "no rollout is under way to advance … start one with
// Run"), and "full" says the gates were skipped (item 14).
func TestManualFromFreshCandidate(t *testing.T) {
	t.Parallel()
	p := newInProcess(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "twostage.yaml")
	os.WriteFile(cfg, []byte(minimalConfig+"rollout:\n  steps:\n    - {percent: 5, bake: 5m, max-wait: 30m}\n    - {percent: 25, bake: 5m, max-wait: 30m}\n    - {percent: 100}\n"), 0o644)
	img := filepath.Join(dir, "dist")
	os.MkdirAll(img, 0o755)
	call := func(want int, args ...string) (map[string]any, string) {
		t.Helper()
		var stdout, stderr strings.Builder
		code := runClock(t.Context(), append(args, "--config", cfg), func(k string) string { return p.env[k] }, &stdout, &stderr, p.clock)
		if code != want {
			t.Fatalf("twostage %v = %d, want %d\nstdout: %s\nstderr: %s", args, code, want, stdout.String(), stderr.String())
		}
		var r map[string]any
		json.Unmarshal([]byte(stdout.String()), &r)
		return r, stdout.String()
	}
	deploy := func(c, tag string) string {
		sha := strings.Repeat(c, 40)
		os.WriteFile(filepath.Join(img, "index.html"), []byte(tag), 0o644)
		call(0, "dev", "--sha", sha, "--branch", "main", "--force", "--image-dir", img)
		call(0, "release", "--tag", tag, "--sha", sha)
		return sha
	}
	deploy("a", "v1.0.0")
	deploy("b", "v1.1.0")
	r, _ := call(0, "promote", "--manual", "next", "--json")
	res := r["result"].(map[string]any)
	if res["candidate"] != "api-v1-1-0-bbbbbbb" || res["step"] != float64(1) || res["percent"] != float64(5) {
		t.Fatalf("promote --manual next on a fresh candidate = %v, want step 1 at 5%%", res)
	}
	_, text := call(0, "promote", "--manual", "full")
	if !strings.Contains(text, "promoted by hand to 100%, gates skipped") || strings.Contains(text, "all steps passed") {
		t.Errorf("promote --manual full says:\n%s", text)
	}
	deploy("c", "v1.2.0")
	r, _ = call(0, "promote", "--manual", "full", "--json")
	if res := r["result"].(map[string]any); res["candidate"] != "api-v1-2-0-ccccccc" || res["phase"] != "Succeeded" {
		t.Errorf("promote --manual full on a fresh candidate = %v", res)
	}
}

// TestReleaseNeverRanInDev: a release whose commit cannot have run in dev
// is refused at once (exit 3) with the next step, and one that waited in
// vain ends with exit 3 too (issue 15, item 9; before, every case waited
// release.await-timeout and ended with exit 1).
func TestReleaseNeverRanInDev(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	p := newInProcess(t)
	dir, git := gitRepo(t, minimalConfig)
	cfg := filepath.Join(dir, "twostage.yaml")
	dist := filepath.Join(dir, "dist")
	commit := func(c string) string {
		os.WriteFile(filepath.Join(dist, "index.html"), []byte(c), 0o644)
		git("commit", "-qam", c)
		return git("rev-parse", "HEAD")
	}
	dev := func() {
		if code, r, stderr := p.call(nil, "dev", "--image-dir", dist, "--config", cfg, "--json"); code != 0 {
			t.Fatalf("dev = %d %v\n%s", code, r, stderr)
		}
	}
	dev()
	git("tag", "v1.0.0")
	if code, r, stderr := p.call(nil, "release", "--tag", "v1.0.0", "--config", cfg, "--json"); code != 0 {
		t.Fatalf("release v1.0.0 = %d %v\n%s", code, r, stderr)
	}
	release := func(tag, want string) {
		t.Helper()
		start := p.clock.Now()
		code, r, stderr := p.call(nil, "release", "--tag", tag, "--config", cfg, "--json")
		msg, _ := r["error"].(string)
		if code != exitPolicy || !strings.Contains(msg, want) {
			t.Errorf("release %s = %d %q, want exit 3 saying %q", tag, code, msg, want)
		}
		if want == "did not run in dev within" && !strings.Contains(stderr, "waiting for commit ") {
			t.Errorf("release %s waited silently:\n%s", tag, stderr)
		}
		if waited := p.clock.Now().Sub(start); want != "did not run in dev within" && waited > time.Minute {
			t.Errorf("release %s waited %s before refusing", tag, waited)
		}
	}
	// Not on main.
	git("checkout", "-q", "-b", "feature")
	commit("feature")
	git("tag", "v1.1.0")
	git("checkout", "-q", "main")
	release("v1.1.0", "is not on main")
	// Skipped by dev: dev runs a later commit and no image was pushed.
	commit("skipped")
	git("tag", "v1.2.0")
	commit("later")
	dev()
	release("v1.2.0", "dev has moved past commit")
	// Not yet in dev: waits (on the test's clock) and refuses with the
	// next step.
	commit("pending")
	git("tag", "v1.3.0")
	release("v1.3.0", "did not run in dev within")
}

// TestConfigElsewhere: with --config in a folder outside any repository,
// git runs in the current directory (issue 15, item 14).
func TestConfigElsewhere(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	p := newInProcess(t)
	dir, git := gitRepo(t, minimalConfig)
	elsewhere := filepath.Join(t.TempDir(), "x.yaml")
	os.WriteFile(elsewhere, []byte(minimalConfig), 0o644)
	t.Chdir(dir)
	code, r, stderr := p.call(nil, "dev", "--image-dir", "dist", "--config", elsewhere, "--json")
	if code != 0 {
		t.Fatalf("dev --config %s = %d %v\n%s", elsewhere, code, r, stderr)
	}
	if got := r["result"].(map[string]any)["commit"]; got != git("rev-parse", "HEAD") {
		t.Errorf("dev deployed commit %v, want the current directory's HEAD", got)
	}
}

// TestServiceSettings: per-stage settings in twostage.yaml are applied at
// deploy (stage.Overrides), validated with file:line and the fix, shown by
// status and plan, and a serving revision deployed with other settings is
// flagged as drift (issue 15, item 10; before, `settings:` was an unknown
// key).
func TestServiceSettings(t *testing.T) {
	t.Parallel()
	p := newInProcess(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "twostage.yaml")
	img := filepath.Join(dir, "dist")
	os.MkdirAll(img, 0o755)
	os.WriteFile(filepath.Join(img, "index.html"), []byte("x"), 0o644)
	write := func(settings string) {
		os.WriteFile(cfg, []byte(minimalConfig+"settings:\n"+settings), 0o644)
	}
	write("  dev:\n    env: {LOG_LEVEL: debug}\n    memory: 512Mi\n    cpu: \"9\"\n")
	code, r, _ := p.call(nil, "status", "--config", cfg, "--json")
	if msg, _ := r["error"].(string); code != exitFailed || !strings.Contains(msg, "twostage.yaml:13:10: settings.dev.cpu:") || !strings.Contains(msg, `CPU "9"`) {
		t.Errorf("a bad cpu = %d %q, want file:line and the reason", code, msg)
	}
	for _, bad := range []struct{ setting, at, says string }{
		{"    port: 70000\n", "twostage.yaml:11:11: settings.dev.port:", "want 1 to 65535"},
		{"    timeout: 2h\n", "twostage.yaml:11:14: settings.dev.timeout:", "from 1s to 1h0m0s"},
		{"    vpc-connector: run-egress\n", "twostage.yaml:11:20: settings.dev.vpc-connector:", "projects/PROJECT/locations/REGION/connectors/NAME"},
		{"    vpc-egress: all\n", "twostage.yaml:11:17: settings.dev.vpc-egress:", `want "all-traffic" or "private-ranges-only"`},
		{"    cloudsql-instances: [my-project:orders]\n", "twostage.yaml:11:25: settings.dev.cloudsql-instances:", "PROJECT:REGION:INSTANCE"},
	} {
		write("  dev:\n" + bad.setting)
		code, r, _ := p.call(nil, "status", "--config", cfg, "--json")
		if msg, _ := r["error"].(string); code != exitFailed || !strings.Contains(msg, bad.at) || !strings.Contains(msg, bad.says) {
			t.Errorf("%s= %d %q, want %q and %q", bad.setting, code, msg, bad.at, bad.says)
		}
	}
	write("  dev:\n    env: {LOG_LEVEL: debug}\n    memory: 512Mi\n    max-instances: 3\n    port: 9000\n    timeout: 2m\n" +
		"    vpc-connector: projects/my-project/locations/us-central1/connectors/run-egress\n    vpc-egress: all-traffic\n" +
		"    cloudsql-instances: [my-project:us-central1:orders]\n  prod:\n    secrets:\n      DB_PASSWORD: {secret: db-password}\n")
	sha := strings.Repeat("d", 40)
	if code, r, stderr := p.call(nil, "dev", "--sha", sha, "--branch", "main", "--force", "--image-dir", img, "--config", cfg, "--json"); code != 0 {
		t.Fatalf("dev = %d %v\n%s", code, r, stderr)
	}
	_, r, _ = p.call(nil, "status", "--config", cfg, "--json")
	dev := r["result"].(map[string]any)["dev"].(map[string]any)
	if dev["settings"] != "env LOG_LEVEL=debug, memory 512Mi, timeout 2m0s, vpc-connector projects/my-project/locations/us-central1/connectors/run-egress, vpc-egress all-traffic, cloudsql-instances my-project:us-central1:orders, max-instances 3, port 9000" || dev["drift"] != nil {
		t.Errorf("status dev = settings %q drift %q", dev["settings"], dev["drift"])
	}
	write("  dev:\n    env: {LOG_LEVEL: info}\n")
	_, r, _ = p.call(nil, "status", "--config", cfg, "--json")
	dev = r["result"].(map[string]any)["dev"].(map[string]any)
	if d, _ := dev["drift"].(string); !strings.Contains(d, "api-dev-ddddddd serves 100% with settings") {
		t.Errorf("status after a settings change: drift %q", d)
	}
	if got := r["result"].(map[string]any)["prod"].(map[string]any)["settings"]; got != nil && got != "" {
		t.Errorf("prod settings = %v", got)
	}
}

// TestDoctorRetention: doctor reports a cleanup policy that can delete an
// image a serving or tagged prod revision runs, and is content once a KEEP
// policy covers it (issue 15, item 11; before, doctor checked only that
// commit images survive until released).
func TestDoctorRetention(t *testing.T) {
	t.Parallel()
	tagged := artifactregistrypb.CleanupPolicyCondition_TAGGED
	repo := &artifactregistrypb.Repository{
		Name: "projects/test-project/locations/us-central1/repositories/apps", Format: artifactregistrypb.Repository_DOCKER,
		CleanupPolicies: map[string]*artifactregistrypb.CleanupPolicy{"old-images": {
			Action: artifactregistrypb.CleanupPolicy_DELETE,
			ConditionType: &artifactregistrypb.CleanupPolicy_Condition{Condition: &artifactregistrypb.CleanupPolicyCondition{
				TagState: &tagged, OlderThan: durationpb.New(90 * 24 * time.Hour)}},
		}},
	}
	p := newInProcess(t, artifactregistryfake.WithRepository(repo))
	dir := t.TempDir()
	cfg := filepath.Join(dir, "twostage.yaml")
	os.WriteFile(cfg, []byte(minimalConfig), 0o644)
	img := filepath.Join(dir, "dist")
	os.MkdirAll(img, 0o755)
	os.WriteFile(filepath.Join(img, "index.html"), []byte("x"), 0o644)
	sha := strings.Repeat("e", 40)
	for _, args := range [][]string{{"dev", "--sha", sha, "--branch", "main", "--force", "--image-dir", img}, {"release", "--tag", "v1.0.0", "--sha", sha}} {
		if code, r, stderr := p.call(nil, append(args, "--config", cfg, "--json")...); code != 0 {
			t.Fatalf("twostage %v = %d %v\n%s", args, code, r, stderr)
		}
	}
	code, r, _ := p.call(nil, "doctor", "--config", cfg, "--json")
	var msgs []string
	for _, f := range r["result"].(map[string]any)["findings"].([]any) {
		if m := f.(map[string]any); m["check"] == "repository/retention" {
			msgs = append(msgs, m["severity"].(string)+": "+m["message"].(string))
		}
	}
	if code != exitFailed || len(msgs) != 1 || !strings.HasPrefix(msgs[0], "error: ") || !strings.Contains(msgs[0], `"old-images"`) || !strings.Contains(msgs[0], "once older than 2160h0m0s") {
		t.Errorf("doctor = %d, retention findings %q; want one error naming old-images", code, msgs)
	}
}

// TestPrune: prune lists (dry run) and with --apply deletes the revisions
// that serve nothing and hold no tag beyond the newest --keep, never the
// stable, prior or candidate revision (issue 15, item 11; before, there
// was no prune).
func TestPrune(t *testing.T) {
	t.Parallel()
	p := newInProcess(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "twostage.yaml")
	os.WriteFile(cfg, []byte(minimalConfig+"rollout:\n  steps:\n    - {percent: 5, bake: 0s}\n    - {percent: 100}\n"), 0o644)
	img := filepath.Join(dir, "dist")
	os.MkdirAll(img, 0o755)
	call := func(args ...string) map[string]any {
		t.Helper()
		code, r, stderr := p.call(nil, append(args, "--config", cfg, "--json")...)
		if code != 0 {
			t.Fatalf("twostage %v = %d %v\n%s", args, code, r, stderr)
		}
		return r
	}
	for i, c := range []string{"a", "b", "c", "d"} {
		sha := strings.Repeat(c, 40)
		os.WriteFile(filepath.Join(img, "index.html"), []byte(c), 0o644)
		call("dev", "--sha", sha, "--branch", "main", "--force", "--image-dir", img)
		tag := fmt.Sprintf("v1.%d.0", i)
		call("release", "--tag", tag, "--sha", sha)
		if i == 1 || i == 2 {
			call("promote")
		}
	}
	// prod: v1.0.0 (nothing), v1.1.0 (prior), v1.2.0 (stable), v1.3.0
	// (candidate); dev: dddd serves, aaaa..cccc serve nothing.
	stages := func(r map[string]any) map[string][]any {
		out := map[string][]any{}
		for _, s := range r["result"].(map[string]any)["stages"].([]any) {
			m := s.(map[string]any)
			d, _ := m["delete"].([]any)
			out[m["stage"].(string)] = d
		}
		return out
	}
	got := stages(call("prune", "--keep", "1"))
	if fmt.Sprint(got["dev"]) != "[api-dev-bbbbbbb api-dev-aaaaaaa]" || fmt.Sprint(got["prod"]) != "[]" {
		t.Errorf("prune --keep 1 would delete %v", got)
	}
	got = stages(call("prune", "--keep", "0", "--apply"))
	if fmt.Sprint(got["dev"]) != "[api-dev-ccccccc api-dev-bbbbbbb api-dev-aaaaaaa]" || fmt.Sprint(got["prod"]) != "[api-v1-0-0-aaaaaaa]" {
		t.Errorf("prune --keep 0 --apply deleted %v", got)
	}
	_, r, _ := p.call(nil, "status", "--config", cfg, "--json")
	var names []string
	for _, st := range []string{"dev", "prod"} {
		for _, rev := range r["result"].(map[string]any)[st].(map[string]any)["revisions"].([]any) {
			names = append(names, rev.(map[string]any)["name"].(string))
		}
	}
	if want := "[api-dev-ddddddd api-v1-3-0-ddddddd api-v1-2-0-ccccccc api-v1-1-0-bbbbbbb]"; fmt.Sprint(names) != want {
		t.Errorf("revisions after prune = %v, want %s", names, want)
	}
}

// TestMessages: the CLI's errors name twostage.yaml keys, not library
// options, and an interrupted promote says how to resume (issue 15, item
// 14).
func TestMessages(t *testing.T) {
	t.Parallel()
	p := newInProcess(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "twostage.yaml")
	os.WriteFile(cfg, []byte(minimalConfig), 0o644)
	img := filepath.Join(dir, "dist")
	os.MkdirAll(img, 0o755)
	_, r, _ := p.call(nil, "dev", "--sha", strings.Repeat("e", 40), "--branch", "feature", "--force", "--image-dir", img, "--config", cfg, "--json")
	if msg, _ := r["error"].(string); !strings.Contains(msg, "(branch: in twostage.yaml)") || strings.Contains(msg, "WithBranch") {
		t.Errorf("dev from another branch says %q", msg)
	}
	// Ctrl-C during promote: the context is cancelled mid-rollout.
	for i, c := range []string{"a", "b"} {
		sha := strings.Repeat(c, 40)
		os.WriteFile(filepath.Join(img, "index.html"), []byte(c), 0o644)
		p.call(nil, "dev", "--sha", sha, "--branch", "main", "--force", "--image-dir", img, "--config", cfg)
		p.call(nil, "release", "--tag", fmt.Sprintf("v1.%d.0", i), "--sha", sha, "--config", cfg)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr strings.Builder
	done := make(chan int)
	go func() {
		done <- runClock(ctx, []string{"promote", "--config", cfg}, func(k string) string { return p.env[k] }, &stdout, &stderr, blockingClock{p.clock, cancel})
	}()
	code := <-done
	if code != exitFailed || !strings.Contains(stderr.String(), "run `twostage promote` again to resume") {
		t.Errorf("an interrupted promote = %d\n%s", code, stderr.String())
	}
}

// blockingClock cancels the run at its first long sleep (a bake), as a
// Ctrl-C would.
type blockingClock struct {
	*fake.Clock
	cancel context.CancelFunc
}

func (c blockingClock) Sleep(ctx context.Context, d time.Duration) error {
	if d >= time.Minute {
		c.cancel()
		<-ctx.Done()
		return ctx.Err()
	}
	return c.Clock.Sleep(ctx, d)
}
