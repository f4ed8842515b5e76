package twostage_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestNoCloudSDKInCorePackages keeps the concept packages and the pipeline
// free of cloud SDKs and transports (the idea of go-containerregistry's
// depcheck_test.go): users who only need the model and the fakes must not
// pull in gRPC clients, and the pipeline must never depend on a backend.
// Backends mark transient errors at their boundary (internal/gcperr.Error
// has a Temporary method), so the core tells them with
// twostage.IsTemporary and needs no gRPC codes.
func TestNoCloudSDKInCorePackages(t *testing.T) {
	t.Parallel()
	core := []string{".", "./pipeline", "./pipeline/fanout", "./pipeline/prober", "./stage", "./traffic", "./traffic/analysis", "./registry", "./fake"}
	forbidden := []string{
		"cloud.google.com/go/",
		// Transports: the core speaks twostage's sentinels and
		// twostage.IsTemporary, never gRPC codes or googleapi errors.
		"google.golang.org/grpc",
		"github.com/googleapis/gax-go/",
		"google.golang.org/api/",
		"github.com/twostage/twostage/internal/gcperr",
		// Backends of this module: the core never imports them.
		"github.com/twostage/twostage/stage/cloudrun",
		"github.com/twostage/twostage/registry/oci",
		"github.com/twostage/twostage/registry/artifactregistry",
		"github.com/twostage/twostage/traffic/analysis/cloudmonitoring",
		"github.com/twostage/twostage/fake/",
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	for _, pkg := range core {
		out, err := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if strings.HasPrefix(dep, f) {
					t.Errorf("%s depends on %s; core packages must not import cloud SDKs (move the code to a backend sub-package)", pkg, dep)
				}
			}
		}
	}
}
