package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twostage/twostage/fake/artifactregistryfake"
	"github.com/twostage/twostage/fake/cloudrunfake"
)

// testActionRef is the commit the test binaries pin the twostage action to.
const testActionRef = "0123456789abcdef0123456789abcdef01234567"

// buildCLI builds the twostage binary into a temporary directory.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "twostage")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	out, err := exec.Command("go", "build", "-ldflags", "-X main.actionRef="+testActionRef, "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// e2e drives the binary against the emulators.
type e2e struct {
	t    *testing.T
	bin  string
	repo string
	env  []string
}

type cliResult struct {
	Command  string          `json:"command"`
	ExitCode int             `json:"exitCode"`
	Error    string          `json:"error"`
	Result   json.RawMessage `json:"result"`
}

// run runs the CLI with --json and checks the exit code.
func (e *e2e) run(wantCode int, extraEnv []string, args ...string) cliResult {
	e.t.Helper()
	cmd := exec.Command(e.bin, append(args, "--json")...)
	cmd.Dir = e.repo
	cmd.Env = append(append(os.Environ(), e.env...), extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("running twostage %v: %v", args, err)
	}
	var r cliResult
	if jerr := json.Unmarshal(stdout.Bytes(), &r); jerr != nil {
		e.t.Fatalf("twostage %v: stdout is not JSON (%v):\n%s\nstderr:\n%s", args, jerr, stdout.String(), stderr.String())
	}
	if code != wantCode || r.ExitCode != code {
		e.t.Fatalf("twostage %v: exit %d (JSON says %d), want %d; error %q\nstderr:\n%s", args, code, r.ExitCode, wantCode, r.Error, stderr.String())
	}
	return r
}

func (e *e2e) git(args ...string) string {
	e.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = e.repo
	cmd.Env = append(os.Environ(), e.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes the app's content and commits it, returning the SHA.
func (e *e2e) commit(content string) string {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.repo, "dist", "index.html"), []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	e.git("add", "-A")
	e.git("commit", "-q", "-m", content)
	return e.git("rev-parse", "HEAD")
}

// status returns the parsed status.
func (e *e2e) status() statusResult {
	e.t.Helper()
	r := e.run(0, nil, "status")
	var s statusResult
	if err := json.Unmarshal(r.Result, &s); err != nil {
		e.t.Fatalf("decoding status: %v\n%s", err, r.Result)
	}
	return s
}

// shares returns revision → percent of a stage.
func shares(s stageStatus) map[string]int {
	out := map[string]int{}
	for _, r := range s.Revisions {
		if r.Percent > 0 {
			out[r.Name] = r.Percent
		}
	}
	return out
}

const e2eConfig = `project: test-project
region: us-central1
registry:
  repository: apps
  image: api
services:
  dev: api-dev
  prod: api
branch: main
rollout:
  steps:
    - percent: 5
      bake: 0s
      max-wait: 10m
    - percent: 25
      bake: 0s
      max-wait: 10m
    - percent: 100
  gates:
    - type: threshold
      max-error-rate: 0.01
      interval: 1m
  metrics:
    source: file
    file: traffic.json
audit:
  log: audit.jsonl
`

// TestEndToEnd builds the CLI and plays the whole story against the
// Cloud Run and Artifact Registry emulators: init, two commits to dev, a
// first release, a release promoted 5% → 25% → 100%, and a bad release
// rolled back automatically by the threshold gate, checking status --json
// after each step. Bakes and gate waits run on simulated time
// (--virtual-time), so nothing sleeps.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the CLI")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skipf("skipping: git is not installed: %v", err)
	}
	run, err := cloudrunfake.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Close() })
	ar, err := artifactregistryfake.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ar.Close() })

	tmp := t.TempDir()
	e := &e2e{t: t, bin: buildCLI(t), repo: filepath.Join(tmp, "repo")}
	gitconfig := filepath.Join(tmp, "gitconfig")
	os.WriteFile(gitconfig, []byte("[user]\n\temail = dev@example.com\n\tname = Dev\n"), 0o644)
	e.env = []string{
		"TWOSTAGE_EMULATOR_HOST=run=" + run.Addr + ",artifactregistry=" + ar.Addr + ",registry=" + ar.RegistryHost(),
		"GIT_CONFIG_GLOBAL=" + gitconfig, "GIT_CONFIG_NOSYSTEM=1", "USER=dev",
		"GITHUB_ACTIONS=", "GITHUB_REF=", "GITHUB_SHA=", "GITHUB_OUTPUT=", "GITHUB_STEP_SUMMARY=", "ACTIONS_ID_TOKEN_REQUEST_URL=",
	}
	if err := os.MkdirAll(filepath.Join(e.repo, "dist"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.git("init", "-q", "-b", "main")

	// init writes the configuration and the workflows.
	r := e.run(0, nil, "init", "--project", "test-project", "--service", "api", "--repository", "apps")
	var ir initResult
	json.Unmarshal(r.Result, &ir)
	if diff := cmp.Diff([]string{".github/workflows/dev.yml", ".github/workflows/promote.yml", ".github/workflows/release.yml", "twostage.yaml"}, ir.Files); diff != "" {
		t.Errorf("init files mismatch (-want +got):\n%s", diff)
	}
	e.run(1, nil, "init") // exists: refused without --force
	// The test's configuration: fast plan, a threshold gate on scripted traffic.
	os.WriteFile(filepath.Join(e.repo, "twostage.yaml"), []byte(e2eConfig), 0o644)
	os.WriteFile(filepath.Join(e.repo, "traffic.json"), []byte(`{"revisions": {"*": {"rps": 20, "error-rate": 0.001}, "api-v1-6-0-*": {"rps": 20, "error-rate": 0.2}}}`), 0o644)

	st := e.status()
	if st.Dev.Exists || st.Prod.Exists {
		t.Fatalf("status before any deploy: %+v, want no services", st)
	}

	// Two commits to dev.
	shaA := e.commit("one")
	r = e.run(0, nil, "dev", "--image-dir", "dist", "--entrypoint", "/app/server", "--virtual-time")
	var dr devResult
	dr = devResult{}
	json.Unmarshal(r.Result, &dr)
	if dr.Revision != "api-dev-"+shaA[:7] || !dr.Pushed || dr.Commit != shaA {
		t.Errorf("dev of %s = %+v, want revision api-dev-%s, pushed", shaA, dr, shaA[:7])
	}
	shaB := e.commit("two")
	e.run(0, nil, "dev", "--image-dir", "dist", "--entrypoint", "/app/server")
	st = e.status()
	if diff := cmp.Diff(map[string]int{"api-dev-" + shaB[:7]: 100}, shares(st.Dev)); diff != "" {
		t.Errorf("dev traffic after two commits mismatch (-want +got):\n%s", diff)
	}
	if len(st.Dev.Revisions) != 2 || st.Dev.Revisions[0].Commit != shaB || st.Dev.Revisions[0].Digest == st.Dev.Revisions[1].Digest {
		t.Errorf("dev revisions = %+v, want two with different digests, newest commit %s", st.Dev.Revisions, shaB)
	}
	// Re-running dev for the same commit adopts, pushes nothing.
	r = e.run(0, nil, "dev", "--image-dir", "dist", "--entrypoint", "/app/server")
	dr = devResult{}
	json.Unmarshal(r.Result, &dr)
	if dr.Pushed {
		t.Errorf("second dev of %s pushed again", shaB)
	}
	// A branch other than main is refused by policy.
	e.run(3, nil, "dev", "--branch", "feature")

	// The first release creates prod serving 100%.
	e.git("tag", "-a", "v1.4.2", "-m", "v1.4.2")
	r = e.run(0, nil, "release", "--tag", "v1.4.2")
	var rr releaseResult
	rr = releaseResult{}
	json.Unmarshal(r.Result, &rr)
	first := "api-v1-4-2-" + shaB[:7]
	if rr.Revision != first || !rr.First || rr.Commit != shaB || rr.Digest != st.Dev.Revisions[0].Digest {
		t.Errorf("release v1.4.2 = %+v, want first release %s of the digest dev ran (%s)", rr, first, st.Dev.Revisions[0].Digest)
	}
	st = e.status()
	if diff := cmp.Diff(map[string]int{first: 100}, shares(st.Prod)); diff != "" {
		t.Errorf("prod traffic after the first release mismatch (-want +got):\n%s", diff)
	}
	// A tag that is not a release tag is refused by policy.
	e.git("tag", "nightly")
	e.run(3, nil, "release", "--tag", "nightly")

	// A release: commit C to dev, tag v1.5.0, deployed with 0%.
	shaC := e.commit("three")
	e.run(0, nil, "dev", "--image-dir", "dist", "--entrypoint", "/app/server")
	e.git("tag", "-a", "v1.5.0", "-m", "v1.5.0")
	r = e.run(0, nil, "release", "--tag", "v1.5.0")
	rr = releaseResult{}
	json.Unmarshal(r.Result, &rr)
	good := "api-v1-5-0-" + shaC[:7]
	if rr.Revision != good || rr.First || !strings.Contains(rr.PreviewURL, "candidate---") {
		t.Errorf("release v1.5.0 = %+v, want %s with a candidate preview URL", rr, good)
	}
	st = e.status()
	if diff := cmp.Diff(map[string]int{first: 100}, shares(st.Prod)); diff != "" {
		t.Errorf("prod traffic after release v1.5.0 mismatch (-want +got):\n%s", diff)
	}
	if st.Prod.Tags["candidate"] != good {
		t.Errorf("prod tags = %v, want candidate → %s", st.Prod.Tags, good)
	}

	// plan shows the first step without writing it.
	r = e.run(0, nil, "plan")
	var pr planResult
	json.Unmarshal(r.Result, &pr)
	if !strings.Contains(pr.Diff, good) || !strings.Contains(pr.Diff, "0% → 5%") {
		t.Errorf("plan diff:\n%s\nwant %s going 0%% → 5%%", pr.Diff, good)
	}
	if got := shares(e.status().Prod); got[good] != 0 {
		t.Errorf("plan wrote traffic: %v", got)
	}

	// The promotion: 5% → 25% → 100% behind the gate.
	r = e.run(0, nil, "promote", "--virtual-time")
	var ro rolloutResult
	ro = rolloutResult{}
	json.Unmarshal(r.Result, &ro)
	if ro.Phase != "Succeeded" || ro.Candidate != good || ro.Stable != first {
		t.Errorf("promote = %+v, want %s Succeeded over %s", ro, good, first)
	}
	st = e.status()
	if diff := cmp.Diff(map[string]int{good: 100}, shares(st.Prod)); diff != "" {
		t.Errorf("prod traffic after the promotion mismatch (-want +got):\n%s", diff)
	}
	if st.Prod.Tags["stable"] != good || st.Prod.Tags["prior"] != first {
		t.Errorf("prod tags after the promotion = %v, want stable → %s, prior → %s", st.Prod.Tags, good, first)
	}
	// Nothing pending: a scheduled promote does nothing.
	r = e.run(0, nil, "promote", "--if-pending")
	ro = rolloutResult{}
	json.Unmarshal(r.Result, &ro)
	if !ro.Nothing {
		t.Errorf("promote --if-pending after success = %+v, want nothing to do", ro)
	}

	// A bad release: the gate sees 20% errors at 5% and rolls back.
	shaD := e.commit("four")
	e.run(0, nil, "dev", "--image-dir", "dist", "--entrypoint", "/app/server")
	e.git("tag", "-a", "v1.6.0", "-m", "v1.6.0")
	e.run(0, nil, "release", "--tag", "v1.6.0")
	bad := "api-v1-6-0-" + shaD[:7]
	summary := filepath.Join(tmp, "summary.md")
	outputs := filepath.Join(tmp, "outputs")
	r = e.run(4, []string{"GITHUB_ACTIONS=true", "GITHUB_STEP_SUMMARY=" + summary, "GITHUB_OUTPUT=" + outputs, "GITHUB_ACTOR=octocat"}, "promote", "--virtual-time")
	ro = rolloutResult{}
	json.Unmarshal(r.Result, &ro)
	if ro.Phase != "RolledBack" || ro.Candidate != bad || !strings.Contains(r.Error, "rolled back") {
		t.Errorf("bad promote = %+v (error %q), want %s RolledBack", ro, r.Error, bad)
	}
	st = e.status()
	if diff := cmp.Diff(map[string]int{good: 100}, shares(st.Prod)); diff != "" {
		t.Errorf("prod traffic after the rollback mismatch (-want +got):\n%s", diff)
	}
	if st.Prod.Rollout == nil || st.Prod.Rollout.Phase != "RolledBack" || !strings.Contains(st.Prod.Rollout.Reason, "threshold") {
		t.Errorf("prod rollout after the bad release = %+v, want RolledBack by the threshold gate", st.Prod.Rollout)
	}
	md, _ := os.ReadFile(summary)
	for _, want := range []string{"| promote.step |", "| rollback |", "```mermaid", "xychart-beta", bad} {
		if !strings.Contains(string(md), want) {
			t.Errorf("job summary lacks %q:\n%s", want, md)
		}
	}
	outs, _ := os.ReadFile(outputs)
	if !strings.Contains(string(outs), "phase<<") || !strings.Contains(string(outs), "RolledBack") {
		t.Errorf("GITHUB_OUTPUT = %q, want the phase", outs)
	}
	// Promoting the rolled-back release again is refused by policy.
	e.run(3, nil, "promote", "--revision", bad, "--virtual-time")

	// A rollback now has nothing to do: the gate already rolled back.
	r = e.run(0, nil, "rollback")
	ro = rolloutResult{}
	json.Unmarshal(r.Result, &ro)
	if !ro.Nothing || ro.Phase != "RolledBack" {
		t.Errorf("rollback after the automatic rollback = %+v, want nothing to do", ro)
	}
	if st := e.status(); !strings.Contains(st.Prod.Rollout.Reason, "threshold") {
		t.Errorf("rollback overwrote the recorded reason: %q", st.Prod.Rollout.Reason)
	}

	// Signed tags: an unsigned tag is refused with the reason, an SSH-signed
	// one released.
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Logf("skipping the signed-tag part: ssh-keygen is not installed: %v", err)
	} else {
		key := filepath.Join(tmp, "release_key")
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "release", "-f", key).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		pub, _ := os.ReadFile(key + ".pub")
		os.WriteFile(filepath.Join(e.repo, "allowed_signers"), []byte("dev@example.com "+string(pub)), 0o644)
		e.git("config", "gpg.format", "ssh")
		e.git("config", "user.signingkey", key+".pub")
		os.WriteFile(filepath.Join(e.repo, "twostage.yaml"), []byte(e2eConfig+"release:\n  signed-tags: true\n  allowed-signers: allowed_signers\n"), 0o644)
		shaE := e.commit("five")
		e.run(0, nil, "dev", "--image-dir", "dist", "--entrypoint", "/app/server")
		e.git("tag", "-a", "v1.7.0", "-m", "unsigned")
		r = e.run(3, nil, "release", "--tag", "v1.7.0")
		if !strings.Contains(r.Error, "not signed") || !strings.Contains(r.Error, "git tag -s") {
			t.Errorf("release of an unsigned tag: error %q, want the reason and the fix", r.Error)
		}
		e.git("tag", "-s", "v1.7.1", "-m", "signed")
		r = e.run(0, nil, "release", "--tag", "v1.7.1")
		rr = releaseResult{}
		json.Unmarshal(r.Result, &rr)
		if rr.Revision != "api-v1-7-1-"+shaE[:7] {
			t.Errorf("release of a signed tag = %+v, want api-v1-7-1-%s", rr, shaE[:7])
		}
		// Promote it, then roll it back by hand: one write back to v1.5.0.
		signed := rr.Revision
		e.run(0, nil, "promote", "--virtual-time")
		if got := shares(e.status().Prod); got[signed] != 100 {
			t.Errorf("prod after promoting %s = %v", signed, got)
		}
		r = e.run(0, nil, "rollback", "--reason", "customer report")
		ro = rolloutResult{}
		json.Unmarshal(r.Result, &ro)
		if ro.Phase != "RolledBack" || ro.Reason != "customer report" {
			t.Errorf("manual rollback = %+v", ro)
		}
		if diff := cmp.Diff(map[string]int{good: 100}, shares(e.status().Prod)); diff != "" {
			t.Errorf("prod traffic after the manual rollback mismatch (-want +got):\n%s", diff)
		}
	}

	// The audit log holds one JSON object per line for every action.
	audit, err := os.ReadFile(filepath.Join(e.repo, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(audit)), "\n")
	actions := map[string]int{}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		actions[rec["action"].(string)]++
	}
	for _, a := range []string{"dev.deploy", "release.deploy", "promote.step", "promote.gate", "rollback", "policy.refused"} {
		if actions[a] == 0 {
			t.Errorf("audit log has no %s record: %v", a, actions)
		}
	}
}
