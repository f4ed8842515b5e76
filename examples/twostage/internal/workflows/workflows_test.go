package workflows

import (
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"

	"github.com/twostage/twostage/examples/twostage/internal/config"
)

var params = Params{Project: "my-project", Region: "us-central1", Repository: "apps", Image: "api", DevService: "api-dev", ProdService: "api", Branch: "main", CLI: Action{SHA: "0123456789abcdef0123456789abcdef01234567", Version: "v0.1.0"}}

// allParams are params with each build kind.
func allParams() []Params {
	var out []Params
	for _, b := range Builds() {
		p := params
		p.Build = b
		out = append(out, p)
	}
	return out
}

// TestActionlint lints every generated workflow with actionlint.
func TestActionlint(t *testing.T) {
	t.Parallel()
	for _, p := range allParams() {
		t.Run(string(p.Build), func(t *testing.T) { lint(t, p) })
	}
}

func lint(t *testing.T, p Params) {
	files, err := Files(p)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	l, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{WorkingDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for name, content := range files {
		if !strings.HasPrefix(name, ".github/workflows/") {
			continue
		}
		n++
		errs, err := l.Lint(name, content, nil)
		if err != nil {
			t.Fatalf("actionlint %s: %v", name, err)
		}
		for _, e := range errs {
			t.Errorf("actionlint %s:%d:%d: %s [%s]", name, e.Line, e.Column, e.Message, e.Kind)
		}
	}
	if n != 3 {
		t.Errorf("linted %d workflows, want 3", n)
	}
}

// TestWorkflowRules checks the security rules every workflow follows.
func TestWorkflowRules(t *testing.T) {
	t.Parallel()
	for _, p := range allParams() {
		t.Run(string(p.Build), func(t *testing.T) { rules(t, p) })
	}
}

func rules(t *testing.T, p Params) {
	files, err := Files(p)
	if err != nil {
		t.Fatal(err)
	}
	uses := regexp.MustCompile(`uses: ([^@\s]+)@(\S+)(.*)`)
	for _, name := range []string{".github/workflows/dev.yml", ".github/workflows/release.yml", ".github/workflows/promote.yml"} {
		w := string(files[name])
		for _, want := range []string{"permissions:\n  id-token: write\n  contents: read\n", "cancel-in-progress: false"} {
			if !strings.Contains(w, want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
		if strings.Contains(w, "go install") || strings.Contains(w, "@latest") {
			t.Errorf("%s installs the CLI unpinned:\n%s", name, w)
		}
		if !strings.Contains(w, "uses: "+ActionRepo+"@"+p.CLI.SHA+" # v0.1.0") {
			t.Errorf("%s does not use the twostage action pinned by SHA with its version", name)
		}
		for _, m := range uses.FindAllStringSubmatch(w, -1) {
			if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(m[2]) || !regexp.MustCompile(`^ # \S`).MatchString(m[3]) {
				t.Errorf("%s: %s is not pinned by a full SHA with a version comment", name, m[0])
			}
		}
	}
	dev := string(files[".github/workflows/dev.yml"])
	switch p.Build {
	case BuildDocker:
		for _, want := range []string{"docker/build-push-action@", "command: registry-login", "tags: ${{ steps.login.outputs.image }}:${{ github.sha }}"} {
			if !strings.Contains(dev, want) {
				t.Errorf("docker dev.yml lacks %q", want)
			}
		}
	case BuildGo:
		if !strings.Contains(dev, "go build") || !strings.Contains(dev, "--entrypoint=/app/server") {
			t.Errorf("go dev.yml does not build a Go binary:\n%s", dev)
		}
	case BuildStatic:
		if strings.Contains(dev, "go build") || strings.Contains(dev, "docker/") {
			t.Errorf("static dev.yml builds:\n%s", dev)
		}
	}
	if rel := string(files[".github/workflows/release.yml"]); !strings.Contains(rel, `git fetch --force origin "+refs/tags/$TAG:refs/tags/$TAG"`) {
		t.Error("release.yml must re-fetch the tag object for git verify-tag")
	}
}

func TestGeneratedConfigParses(t *testing.T) {
	t.Parallel()
	files, err := Files(params)
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(config.FileName, files[config.FileName])
	if err != nil {
		t.Fatalf("generated twostage.yaml does not parse: %v", err)
	}
	if c.Services.Prod != "api" || c.Services.Dev != "api-dev" || c.Plan().String() != "5% → 25% → 100%" {
		t.Errorf("generated config = %+v", c)
	}
}

// TestActionlintCatches makes sure the linter used above reports problems.
func TestActionlintCatches(t *testing.T) {
	t.Parallel()
	l, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{WorkingDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	bad := "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n"
	errs, err := l.Lint(".github/workflows/bad.yml", []byte(bad), nil)
	if err != nil || len(errs) == 0 {
		t.Errorf("actionlint found %d errors (%v) in a broken workflow, want some", len(errs), err)
	}
}

// TestConcurrencyAndApprovals checks as data what the harness cannot run.
// GitHub keeps at most one running and one pending run per concurrency
// group and cancels the pending one when another is queued
// (docs.github.com, "Control the concurrency of workflows and jobs"), so
// a run that must not be lost (a release, a person's decision) needs a
// group of its own; runs that may be replaced (a dev deploy superseded by
// a newer push, a resume superseded by an equivalent one) share one so
// they never race. Only a person's decisions run in the protected
// environment; the resume job runs only `promote --resume`.
func TestConcurrencyAndApprovals(t *testing.T) {
	t.Parallel()
	type want struct {
		group       string // the group, with its expression
		mustNotLose bool
		environment string
	}
	wants := map[string]want{
		"dev.yml/deploy":      {"twostage-api-dev", false, ""},
		"release.yml/release": {"twostage-api-release-${{ github.ref_name }}", true, ""},
		"promote.yml/decide":  {"twostage-api-decide-${{ github.run_id }}", true, "production"},
		"promote.yml/resume":  {"twostage-api-resume", false, "production-resume"},
	}
	for _, p := range allParams() {
		files, err := Files(p)
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		groups := map[string]string{}
		for _, name := range []string{"dev.yml", "release.yml", "promote.yml"} {
			w, errs := actionlint.Parse(files[".github/workflows/"+name])
			if len(errs) > 0 {
				t.Fatalf("%s: %v", name, errs[0])
			}
			if w.Concurrency != nil {
				t.Errorf("%s: workflow-level concurrency; use per-job groups", name)
			}
			for id, job := range w.Jobs {
				key := name + "/" + id
				wt, ok := wants[key]
				if !ok {
					t.Errorf("%s: unexpected job %s", p.Build, key)
					continue
				}
				seen++
				c := job.Concurrency
				if c == nil || c.Group == nil || c.Group.Value != wt.group {
					t.Errorf("%s %s: concurrency %+v, want group %q", p.Build, key, c, wt.group)
					continue
				}
				if c.CancelInProgress == nil || c.CancelInProgress.Value {
					t.Errorf("%s %s: cancel-in-progress must be false", p.Build, key)
				}
				unique := strings.Contains(wt.group, "github.run_id") || strings.Contains(wt.group, "github.ref_name")
				if wt.mustNotLose && !unique {
					t.Errorf("%s %s must not be lost but its group %q can hold a pending run another replaces", p.Build, key, wt.group)
				}
				if other, ok := groups[strings.ToLower(wt.group)]; ok {
					t.Errorf("%s: %s and %s share group %q", p.Build, other, key, wt.group)
				}
				groups[strings.ToLower(wt.group)] = key
				env := ""
				if job.Environment != nil && job.Environment.Name != nil {
					env = job.Environment.Name.Value
				}
				if env != wt.environment {
					t.Errorf("%s %s: environment %q, want %q", p.Build, key, env, wt.environment)
				}
				if key == "promote.yml/resume" {
					for _, s := range job.Steps {
						if a, ok := s.Exec.(*actionlint.ExecAction); ok && strings.HasPrefix(a.Uses.Value, ActionRepo+"@") {
							if a.Inputs["command"].Value.Value != "promote" || a.Inputs["args"].Value.Value != "--resume" {
								t.Errorf("the resume job runs %v: it may only continue a rollout a person started", a.Inputs)
							}
						}
					}
				}
			}
		}
		if seen != len(wants) {
			t.Errorf("%s: saw %d jobs, want %d", p.Build, seen, len(wants))
		}
	}
}
