package testcluster_test

import (
	"testing"

	"github.com/hoard-dev/hoard/internal/leakcheck"
)

// TestMain fails the package if goroutines outlive its tests: a closed
// cluster must have stopped everything its nodes started.
func TestMain(m *testing.M) {
	leakcheck.Main(m)
}
