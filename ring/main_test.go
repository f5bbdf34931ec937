package ring_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if goroutines outlive its tests: the ring is pure math and starts none.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
