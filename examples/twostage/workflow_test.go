package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/twostage/twostage/examples/twostage/internal/config"
	"github.com/twostage/twostage/examples/twostage/internal/wfharness"
	"github.com/twostage/twostage/examples/twostage/internal/workflows"
	"github.com/twostage/twostage/fake/emulators"
	"github.com/twostage/twostage/wif"
)

// story is one repository whose generated workflows run in the harness
// against the emulator set.
type story struct {
	t      *testing.T
	origin string
	runner *wfharness.Runner
	files  map[string][]byte
	set    *emulators.Set
	bin    string
	signed bool
}

func (s *story) git(args ...string) string {
	s.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = s.origin
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files and commits them to main, returning the SHA.
func (s *story) commit(msg string, files map[string]string) string {
	s.t.Helper()
	for n, c := range files {
		p := filepath.Join(s.origin, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
	s.git("add", "-A")
	s.git("commit", "-q", "-m", msg)
	return s.git("rev-parse", "HEAD")
}

// tag tags HEAD (signed when the story signs) and returns the SHA.
func (s *story) tag(tag string) string {
	s.t.Helper()
	if s.signed {
		s.git("tag", "-s", tag, "-m", "release "+tag)
	} else {
		s.git("tag", "-a", tag, "-m", "release "+tag)
	}
	return s.git("rev-parse", tag+"^{commit}")
}

// run runs a workflow for an event and checks each job's result.
func (s *story) run(workflow string, ev wfharness.Event, want map[string]string) *wfharness.Result {
	s.t.Helper()
	if ev.SHA == "" {
		ev.SHA = s.git("rev-parse", "HEAD")
	}
	res, err := s.runner.Run(s.files[".github/workflows/"+workflow], ev)
	if err != nil {
		s.t.Fatalf("%s on %s %s: %v", workflow, ev.Name, ev.Ref, err)
	}
	for job, w := range want {
		jr := res.Jobs[job]
		if jr == nil || jr.Result != w {
			got := "missing"
			if jr != nil {
				got = jr.Result + "\n" + jr.Log
			}
			s.t.Fatalf("%s on %s %s %v: job %s = %s, want %s", workflow, ev.Name, ev.Ref, ev.Inputs, job, got, w)
		}
	}
	return res
}

// status is `twostage status --json` against the emulators.
func (s *story) status() statusResult {
	s.t.Helper()
	cmd := exec.Command(s.bin, "status", "--json", "--config", filepath.Join(s.origin, "twostage.yaml"))
	cmd.Env = append(os.Environ(), "TWOSTAGE_EMULATOR_HOST="+s.set.Addr)
	out, err := cmd.Output()
	if err != nil {
		s.t.Fatalf("status: %v\n%s", err, out)
	}
	var r struct{ Result statusResult }
	if err := json.Unmarshal(out, &r); err != nil {
		s.t.Fatalf("status: %v\n%s", err, out)
	}
	return r.Result
}

// newStory makes an origin repository with `twostage init --build kind`
// and the emulators, and a harness whose stand-ins are: checkout = a clone
// made as actions/checkout makes it, setup-* = no-op, build-push = a push
// of a prebuilt image, the twostage action = its action.yml with the
// locally built CLI in place of its build step.
func newStory(t *testing.T, bin string, kind workflows.Build, files map[string]string) *story {
	t.Helper()
	set, err := emulators.Start(t.Context(), emulators.WithProject("test-project"), emulators.WithRepository("apps"),
		// This test is about the token exchange; the grants the tokens
		// need are TestLeastPrivilege's (fake/emulators).
		emulators.WithoutIAM())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	tmp := t.TempDir()
	s := &story{t: t, origin: filepath.Join(tmp, "origin"), set: set, bin: bin}
	os.MkdirAll(s.origin, 0o755)
	s.git("init", "-q", "-b", "main")
	s.git("config", "user.email", "dev@example.com")
	s.git("config", "user.name", "Dev")
	// actions/checkout fetches the event's commit by SHA.
	s.git("config", "uploadpack.allowAnySHA1InWant", "true")
	for n, c := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(s.origin, n)), 0o755)
		os.WriteFile(filepath.Join(s.origin, n), []byte(c), 0o644)
	}
	cmd := exec.Command(bin, "init", "--dir", s.origin, "--project", "test-project", "--service", "api")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "dev.yml builds with "+string(kind)) {
		t.Fatalf("twostage init: %v\n%s", err, out)
	}
	cfg := string(must(os.ReadFile(filepath.Join(s.origin, "twostage.yaml"))))
	traffic := filepath.Join(tmp, "traffic.json")
	writeTraffic(t, traffic, `{"*": {"rps": 20, "error-rate": 0.001}}`)
	cfg = strings.Replace(cfg, "project: test-project\n", "project: test-project\nproject-number: \"123456789012\"\n", 1)
	cfg = strings.Replace(cfg, "services:\n", "services:\n  runtime-service-account: api-runtime@test-project.iam.gserviceaccount.com\n", 1)
	cfg = strings.Replace(cfg, "  # repository: OWNER/NAME\n", "  repository: octo/app\n  repository-id: \"42\"\n  owner-id: \"7\"\n", 1)
	cfg = strings.Replace(cfg, "  # gates:\n  #   - type: threshold\n  #     max-error-rate: 0.01\n  #     min-requests: 100\n  # metrics:\n  #   source: cloud-monitoring\n",
		"  gates:\n    - type: threshold\n      max-error-rate: 0.01\n      interval: 1m\n  metrics:\n    source: file\n    file: "+traffic+"\n", 1)
	if _, err := exec.LookPath("ssh-keygen"); err == nil {
		key := filepath.Join(tmp, "release_key")
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "release", "-f", key).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		pub := must(os.ReadFile(key + ".pub"))
		os.WriteFile(filepath.Join(s.origin, ".github", "allowed_signers"), []byte("dev@example.com "+string(pub)), 0o644)
		s.git("config", "gpg.format", "ssh")
		s.git("config", "user.signingkey", key)
		cfg = strings.Replace(cfg, "  signed-tags: false\n  # allowed-signers: .github/allowed_signers   # SSH signatures\n", "  signed-tags: true\n  allowed-signers: .github/allowed_signers\n", 1)
		s.signed = true
	} else {
		t.Logf("ssh-keygen is not installed (%v): the story's tags are annotated, not signed; the signed-tag story is TestSignedTagInCI", err)
	}
	if _, err := config.Parse("twostage.yaml", []byte(cfg)); err != nil {
		t.Fatalf("the story's twostage.yaml: %v\n%s", err, cfg)
	}
	os.WriteFile(filepath.Join(s.origin, "twostage.yaml"), []byte(cfg), 0o644)
	s.files = map[string][]byte{}
	for _, n := range []string{"dev.yml", "release.yml", "promote.yml"} {
		s.files[".github/workflows/"+n] = must(os.ReadFile(filepath.Join(s.origin, ".github", "workflows", n)))
	}

	// The keyless identity twostage.yaml describes, in the emulated STS.
	c, err := config.Parse("twostage.yaml", []byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	setup, ok := (&app{cfg: c}).wifSetup()
	if !ok {
		t.Fatal("the story's wif section is incomplete")
	}
	sts := set.STS()
	if err := sts.AddProvider(stsProvider(setup.Provider)); err != nil {
		t.Fatal(err)
	}
	actionDir := must(filepath.Abs("."))
	s.runner = &wfharness.Runner{
		Origin:     s.origin,
		Repository: "octo/app",
		Dir:        filepath.Join(tmp, "runs"),
		Env: map[string]string{
			"TWOSTAGE_EMULATOR_HOST":         set.Addr,
			"TWOSTAGE_VIRTUAL_TIME":          "true",
			"ACTIONS_ID_TOKEN_REQUEST_URL":   set.ActionsRequestURL(),
			"ACTIONS_ID_TOKEN_REQUEST_TOKEN": sts.RequestToken(),
		},
		Actions: map[string]string{workflows.ActionRepo: actionDir},
		Replace: map[string]wfharness.StandIn{
			// The action's build step: the CLI built once for the test.
			"build": func(st *wfharness.Step) error {
				dst := filepath.Join(st.Env["RUNNER_TEMP"], "twostage-action", "twostage")
				os.MkdirAll(filepath.Dir(dst), 0o755)
				os.Remove(dst) // built already by an earlier use in the job
				return os.Symlink(bin, dst)
			},
		},
		Uses: map[string]wfharness.StandIn{
			"docker/build-push-action": func(st *wfharness.Step) error {
				// A push of a prebuilt image, after registry-login.
				if st.With["push"] != "true" {
					return fmt.Errorf("build-push: push is %q", st.With["push"])
				}
				ref, err := name.ParseReference(st.With["tags"], name.Insecure)
				if err != nil {
					return err
				}
				auth, err := os.ReadFile(filepath.Join(st.Env["DOCKER_CONFIG"], "config.json"))
				if err != nil || !strings.Contains(string(auth), ref.Context().RegistryStr()) {
					return fmt.Errorf("build-push: no registry login for %s in DOCKER_CONFIG (%v)", ref.Context().RegistryStr(), err)
				}
				img, err := random.Image(256, 1)
				if err != nil {
					return err
				}
				return remote.Write(ref, img)
			},
		},
		BeforeJob: func(ev wfharness.Event, job, environment string) {
			claims := wif.GitHubClaims(setup.Repo, ev.Name, ev.Ref)
			if environment != "" {
				claims["environment"] = environment
			}
			sts.SetActionsClaims(claims)
		},
	}
	if testing.Verbose() {
		s.runner.Log = os.Stderr
	}
	s.commit("init", nil)
	return s
}

func writeTraffic(t *testing.T, file, revisions string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(`{"revisions": `+revisions+`}`), 0o644); err != nil {
		t.Fatal(err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestWorkflowsStory runs the workflows `twostage init` generates, for each
// --build kind, in the workflow harness against the emulators: push to
// main, a first release, a release promoted by a person's "promote" and
// the resume job, a bad release rolled back, a paused rollout resumed by
// the schedule once its traffic is healthy, next by hand from a fresh
// candidate, and a rollback by hand — all with keyless auth through the
// emulated STS and (with ssh-keygen) SSH-signed tags that arrive
// lightweight in the checkout.
func TestWorkflowsStory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the CLI and runs workflows")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skipf("git is not installed: %v", err)
	}
	bin := buildCLI(t)
	apps := map[workflows.Build]map[string]string{
		workflows.BuildDocker: {"Dockerfile": "FROM scratch\nCOPY server /server\n"},
		workflows.BuildGo: {"go.mod": "module example.com/app\n\ngo 1.26\n",
			"main.go": "package main\n\nfunc main() {}\n"},
		workflows.BuildStatic: {"dist/index.html": "hello\n"},
	}
	for _, kind := range workflows.Builds() {
		t.Run(string(kind), func(t *testing.T) {
			s := newStory(t, bin, kind, apps[kind])
			traffic := regexp.MustCompile(`file: (\S+)`).FindStringSubmatch(string(must(os.ReadFile(filepath.Join(s.origin, "twostage.yaml")))))[1]
			push := func() string {
				sha := s.git("rev-parse", "HEAD")
				res := s.run("dev.yml", wfharness.Event{Name: "push", Ref: "refs/heads/main", SHA: sha}, map[string]string{"deploy": "success"})
				if got, want := res.Jobs["deploy"].Step("deploy").Outputs["revision"], "api-dev-"+sha[:7]; got != want {
					t.Fatalf("dev.yml: revision output %q, want %q", got, want)
				}
				return sha
			}
			release := func(tag string) *wfharness.Result {
				sha := s.tag(tag)
				return s.run("release.yml", wfharness.Event{Name: "push", Ref: "refs/tags/" + tag, SHA: sha}, map[string]string{"release": "success"})
			}
			dispatch := func(action string, want map[string]string) *wfharness.Result {
				return s.run("promote.yml", wfharness.Event{Name: "workflow_dispatch", Ref: "refs/heads/main", Inputs: map[string]string{"action": action}}, want)
			}
			prod := func() map[string]int { return shares(s.status().Prod) }

			push()
			r := release("v1.0.0")
			first := r.Jobs["release"].Step("release").Outputs["revision"]
			if got := prod(); got[first] != 100 {
				t.Fatalf("after the first release prod = %v, want %s at 100%%", got, first)
			}

			// A release promoted: the person starts it, the resume job
			// drives it behind the gates.
			s.commit("two", map[string]string{"two.txt": "2"})
			push()
			r = release("v1.1.0")
			cand := r.Jobs["release"].Step("release").Outputs["revision"]
			if pv := r.Jobs["release"].Step("release").Outputs["preview_url"]; pv == "" || !strings.HasPrefix(cand, "api-v1-1-0-") {
				t.Fatalf("release v1.1.0: revision %q preview %q", cand, pv)
			}
			// The schedule never starts a rollout a person has not.
			r = s.run("promote.yml", wfharness.Event{Name: "schedule", Ref: "refs/heads/main"}, map[string]string{"decide": "skipped", "resume": "success"})
			if got := prod(); got[first] != 100 {
				t.Fatalf("the schedule started a rollout nobody approved: %v", got)
			}
			if !strings.Contains(r.Jobs["resume"].Log, "waits for a person") {
				t.Errorf("the schedule with an unstarted candidate says:\n%s", r.Jobs["resume"].Log)
			}
			dispatch("promote", map[string]string{"decide": "success", "resume": "success"})
			if got := prod(); got[cand] != 100 {
				t.Fatalf("after promote prod = %v, want %s at 100%%", got, cand)
			}

			// A bad release is rolled back by the gate: the resume job fails
			// (exit 4) and traffic is back.
			s.commit("three", map[string]string{"three.txt": "3"})
			push()
			release("v1.2.0")
			writeTraffic(t, traffic, `{"*": {"rps": 20, "error-rate": 0.001}, "api-v1-2-0-*": {"rps": 20, "error-rate": 0.2}}`)
			r = dispatch("promote", map[string]string{"decide": "success", "resume": "failure"})
			if !strings.Contains(r.Jobs["resume"].Log, "rolled back") {
				t.Errorf("resume of a bad release:\n%s", r.Jobs["resume"].Log)
			}
			if got := prod(); got[cand] != 100 {
				t.Fatalf("after the rollback prod = %v, want %s at 100%%", got, cand)
			}

			// A rollout with no traffic pauses: the run is green, says so,
			// and the schedule resumes it once traffic is healthy.
			s.commit("four", map[string]string{"four.txt": "4"})
			push()
			r = release("v1.2.1")
			quiet := r.Jobs["release"].Step("release").Outputs["revision"]
			writeTraffic(t, traffic, `{"api-v1-1-0-*": {"rps": 20, "error-rate": 0.001}}`)
			r = dispatch("promote", map[string]string{"decide": "success", "resume": "success"})
			if !strings.Contains(r.Jobs["resume"].Summary, "**Paused**") || !strings.Contains(r.Jobs["resume"].Log, "::notice") {
				t.Errorf("a paused rollout: summary %q\nlog:\n%s", r.Jobs["resume"].Summary, r.Jobs["resume"].Log)
			}
			s.run("promote.yml", wfharness.Event{Name: "schedule", Ref: "refs/heads/main"}, map[string]string{"decide": "skipped", "resume": "success"})
			if got := prod(); got[quiet] != 5 {
				t.Fatalf("still paused: prod = %v, want %s at 5%%", got, quiet)
			}
			writeTraffic(t, traffic, `{"*": {"rps": 20, "error-rate": 0.001}}`)
			s.run("promote.yml", wfharness.Event{Name: "schedule", Ref: "refs/heads/main"}, map[string]string{"decide": "skipped", "resume": "success"})
			if got := prod(); got[quiet] != 100 {
				t.Fatalf("after the schedule resumed the rollout prod = %v, want %s at 100%%", got, quiet)
			}

			// next by hand from a fresh candidate starts the rollout; a
			// rollback by hand runs only the decision.
			s.commit("five", map[string]string{"five.txt": "5"})
			push()
			r = release("v1.3.0")
			five := r.Jobs["release"].Step("release").Outputs["revision"]
			writeTraffic(t, traffic, `{"api-v1-2-1-*": {"rps": 20, "error-rate": 0.001}}`)
			dispatch("next", map[string]string{"decide": "success", "resume": "success"})
			if got := prod(); got[five] != 5 {
				t.Fatalf("after next from a fresh candidate prod = %v, want %s at 5%%", got, five)
			}
			dispatch("rollback", map[string]string{"decide": "success", "resume": "skipped"})
			if got := prod(); got[quiet] != 100 {
				t.Fatalf("after rollback prod = %v, want %s at 100%%", got, quiet)
			}
		})
	}
}
