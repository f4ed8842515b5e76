package wif_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestTokenSourceNeedsNoSetupDependencies keeps package wif light: a job
// that only needs a token source must not pull in the CEL evaluator or the
// IAM and Resource Manager clients of the declarative setup, which live in
// wif/provision.
func TestTokenSourceNeedsNoSetupDependencies(t *testing.T) {
	t.Parallel()
	forbidden := []string{
		"github.com/google/cel-go/",
		"google.golang.org/api/iam/",
		"cloud.google.com/go/resourcemanager/",
		"cloud.google.com/go/iam/",
		"google.golang.org/grpc",
		"github.com/twostage/twostage/wif/provision",
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 || deps[len(deps)-1] != "github.com/twostage/twostage/wif" {
		t.Fatalf("go list -deps . did not list package wif last: %q", deps)
	}
	for _, dep := range deps {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("package wif depends on %s; keep setup code (CEL, IAM, Resource Manager) in wif/provision", dep)
			}
		}
	}
}
