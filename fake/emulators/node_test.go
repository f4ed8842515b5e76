package emulators_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twostage/twostage/fake/emulators"
)

// TestNodeClients runs testdata/node/keyless.mjs: Google's official Node.js
// clients (google-auth-library with an external-account credential and
// impersonation, @google-cloud/run over REST and gRPC, fetchIdToken) make a
// keyless deploy against a set prepared only through the admin API
// (issue 16). It needs Node.js and the clients, which CI does not install:
// `npm ci --prefix fake/emulators/testdata/node` (npm registry access once)
// enables it; the run itself is loopback only.
func TestNodeClients(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("Node.js is not installed: this test drives Google's Node.js clients")
	}
	dir := filepath.Join("testdata", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@google-cloud", "run")); err != nil {
		t.Skip("the Node.js clients are not installed: run `npm ci --prefix fake/emulators/testdata/node` to run this test")
	}
	set, err := emulators.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = set.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // a hung client, not a wait
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "keyless.mjs")
	cmd.Dir = dir
	// No ambient credentials, and no GCE metadata server lookup: loopback only.
	cmd.Env = append(os.Environ(), emulators.EnvEmulatorHost+"="+set.Addr, "GOOGLE_APPLICATION_CREDENTIALS=", "METADATA_SERVER_DETECTION=none")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "PASS") {
		t.Fatalf("node keyless.mjs: %v\n%s", err, out)
	}
	t.Logf("node keyless.mjs:\n%s", out)
}
