package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twostage/twostage/examples/twostage/internal/workflows"
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
