package cluster_test

import (
	"testing"

	"github.com/hoard-dev/hoard/internal/leakcheck"
)

// TestMain fails the package if goroutines outlive its tests. The cluster
// package is exercised through real nodes in package node and testcluster;
// tests added here are checked for leaks from the start.
func TestMain(m *testing.M) {
	leakcheck.Main(m)
}
