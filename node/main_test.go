package node_test

import (
	"testing"

	"github.com/hoard-dev/hoard/internal/leakcheck"
)

// TestMain fails the package if goroutines outlive the nodes that started
// them: every node and connection must stop what it started on Shutdown.
func TestMain(m *testing.M) {
	leakcheck.Main(m)
}
