package cloudrun_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if goroutines outlive them: Close must
// release the clients New created.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
