package testcluster_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if goroutines outlive its tests: a closed
// cluster must have stopped everything its nodes started.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
