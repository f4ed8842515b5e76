package reliability

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any suite (the fault matrix, the races)
// leaves a goroutine behind once its emulators and clients are closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
