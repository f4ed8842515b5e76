package artifactregistryfake_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves the emulator's goroutines
// (gRPC server, HTTP server, client connections) running.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
