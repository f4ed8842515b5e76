package workflows

import (
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"

	"github.com/twostage/twostage/examples/twostage/internal/config"
)

var params = Params{Project: "my-project", Region: "us-central1", Repository: "apps", Image: "api", DevService: "api-dev", ProdService: "api", Branch: "main", CLIVersion: "v0.1.0"}

// TestActionlint lints every generated workflow with actionlint.
func TestActionlint(t *testing.T) {
	t.Parallel()
	files, err := Files(params)
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
	files, err := Files(params)
	if err != nil {
		t.Fatal(err)
	}
	uses := regexp.MustCompile(`uses: ([^@\s]+)@(\S+)(.*)`)
	for _, name := range []string{".github/workflows/dev.yml", ".github/workflows/release.yml", ".github/workflows/promote.yml"} {
		w := string(files[name])
		for _, want := range []string{"permissions:\n  id-token: write\n  contents: read\n", "concurrency:\n  group: twostage-", "cancel-in-progress: false"} {
			if !strings.Contains(w, want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
		for _, m := range uses.FindAllStringSubmatch(w, -1) {
			if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(m[2]) || !regexp.MustCompile(`^ # v\d`).MatchString(m[3]) {
				t.Errorf("%s: %s is not pinned by a full SHA with a # vX comment", name, m[0])
			}
		}
	}
	// Release and promote share the prod group, so they never race.
	group := regexp.MustCompile(`group: (\S+)`)
	rel := group.FindStringSubmatch(string(files[".github/workflows/release.yml"]))[1]
	pro := group.FindStringSubmatch(string(files[".github/workflows/promote.yml"]))[1]
	dev := group.FindStringSubmatch(string(files[".github/workflows/dev.yml"]))[1]
	if rel != pro || rel == dev {
		t.Errorf("concurrency groups dev %q, release %q, promote %q: want release == promote != dev", dev, rel, pro)
	}
	if !strings.Contains(string(files[".github/workflows/release.yml"]), "fetch-depth: 0") {
		t.Error("release.yml must fetch tags (fetch-depth: 0) for git verify-tag")
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
