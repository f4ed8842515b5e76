package artifactregistry_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines running (servers,
// clients, connections).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
