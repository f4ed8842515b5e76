package cloudrunfake_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: Close must
// stop the server and everything it started.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
