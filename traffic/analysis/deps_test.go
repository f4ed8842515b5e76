package analysis_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestNoTransportImports keeps package analysis free of cloud SDKs and
// transports, directly or not: no cloud.google.com/go, gRPC, gax-go or
// google.golang.org/api (backends such as Cloud Monitoring live in
// sub-packages).
func TestNoTransportImports(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "list", "-deps", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range []string{"cloud.google.com/", "google.golang.org/grpc", "github.com/googleapis/gax-go", "google.golang.org/api"} {
			if strings.HasPrefix(dep, f) {
				t.Errorf("package analysis depends on %s; it must not depend on cloud SDKs or transports", dep)
			}
		}
	}
}
