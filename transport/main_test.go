package transport

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if goroutines outlive its tests: a closed
// Conn, Server or Pool must have stopped every goroutine it started.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
