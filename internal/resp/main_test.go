package resp

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if goroutines outlive its tests: a closed
// server must have stopped its accept loop and every connection.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
