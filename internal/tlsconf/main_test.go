package tlsconf

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if goroutines outlive its tests: the test
// servers' must all be gone.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
