package node_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if goroutines outlive the nodes that started
// them: every node and connection must stop what it started on Shutdown.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
