package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twostage/twostage/examples/twostage/internal/workflows"
	"github.com/twostage/twostage/fake/emulators"
)

// readmeActionRef is the commit the README's workflows pin.
const readmeActionRef = "5f2c8e1a9b3d4c6e7f8091a2b3c4d5e6f7a8b9c0"

// TestREADMEWorkflows keeps the workflows shown in README.md identical to
// what `twostage init --project my-project --service api --build docker --ref … --ref-version v0.4.0` writes (minus
// the leading comments).
func TestREADMEWorkflows(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	files, err := workflows.Files(workflows.Params{Project: "my-project", Region: "us-central1", Repository: "apps", Image: "api", DevService: "api-dev", ProdService: "api", Branch: "main", Build: workflows.BuildDocker, CLI: workflows.Action{SHA: readmeActionRef, Version: "v0.4.0"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dev.yml", "release.yml", "promote.yml"} {
		re := regexp.MustCompile("`\\.github/workflows/" + regexp.QuoteMeta(name) + "`[^\\n]*(?:\\n[^`\\n][^\\n]*)*\\n\\n```yaml\\n((?s:.*?))```")
		m := re.FindSubmatch(readme)
		if m == nil {
			t.Errorf("README.md shows no %s", name)
			continue
		}
		var gen []string
		for _, l := range strings.Split(string(files[".github/workflows/"+name]), "\n") {
			if !strings.HasPrefix(l, "#") {
				gen = append(gen, l)
			}
		}
		if diff := cmp.Diff(strings.Join(gen, "\n"), string(m[1])); diff != "" {
			t.Errorf("README.md %s differs from the generated one (-generated +README):\n%s", name, diff)
		}
	}
}

// TestREADMEWalkthrough runs the local-play block of README.md literally,
// line by line in bash, in a scratch directory, against the emulator set
// (in-process, in place of `twostage emulator` in terminal 1), with the CLI
// built once in place of the `go build` line. Every line must exit 0, a
// line that echoes its exit code must print the one its comment promises,
// and the lines' comments are checked against what they print.
func TestREADMEWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the CLI")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skipf("git is not installed: %v", err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(readme), "From a fresh clone:\n\n```sh\n")
	if i < 0 {
		t.Fatal("README.md has no local-play block")
	}
	block := string(readme[i+len("From a fresh clone:\n\n```sh\n"):])
	block = block[:strings.Index(block, "```")]

	set, err := emulators.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	bin := buildCLI(t)
	scratch := t.TempDir()
	play := filepath.Join(scratch, "play")
	env := append(os.Environ(), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@example.com", "GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@example.com",
		"GIT_CONFIG_GLOBAL=/dev/null", "GITHUB_ACTIONS=", "GITHUB_REF=")
	dir := scratch
	var outputs []string
	for _, line := range strings.Split(block, "\n") {
		cmdline, comment, _ := strings.Cut(line, "#")
		cmdline = strings.TrimSpace(cmdline)
		switch {
		case cmdline == "":
			continue
		case strings.HasPrefix(cmdline, "go build"):
			continue // the CLI is built once for the test
		case strings.HasPrefix(cmdline, "twostage emulator"):
			continue // terminal 1: the emulator set above
		case strings.HasPrefix(cmdline, "export TWOSTAGE_EMULATOR_HOST="):
			env = append(env, "TWOSTAGE_EMULATOR_HOST="+set.Addr)
			continue
		}
		cmdline = strings.ReplaceAll(cmdline, "/tmp/play", play)
		pwdFile := filepath.Join(scratch, ".pwd")
		cmd := exec.Command("bash", "--noprofile", "--norc", "-c", cmdline+"\nrc=$?; pwd > "+pwdFile+"; exit $rc")
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("README line %q: %v\n%s", cmdline, err, out)
		}
		if b, err := os.ReadFile(pwdFile); err == nil {
			dir = strings.TrimSpace(string(b))
		}
		outputs = append(outputs, string(out))
		if m := regexp.MustCompile(`exit (\d)`).FindStringSubmatch(comment); m != nil && !strings.Contains(string(out), "exit "+m[1]) {
			t.Errorf("README line %q promises exit %s; it printed:\n%s", cmdline, m[1], out)
		}
		for promise, want := range map[string]string{
			"api-dev-<sha7> serves 100%": "serves 100%",
			"creates prod, serving 100%": "serving 100%",
			"at 0%, preview URL":         "preview http",
			"5% → 25% → 100%":            "Succeeded",
			"rolled back, exit 4":        "RolledBack",
			"nothing to roll back":       "nothing to roll back",
		} {
			if strings.Contains(comment, promise) && !strings.Contains(string(out), want) {
				t.Errorf("README line %q promises %q; it printed:\n%s", cmdline, promise, out)
			}
		}
	}
	if len(outputs) < 15 {
		t.Errorf("ran %d lines of the walkthrough", len(outputs))
	}
}
