package stsfake_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind (servers
// not closed, clients not released).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
