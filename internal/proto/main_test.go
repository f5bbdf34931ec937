package proto

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if goroutines outlive its tests: encoding starts none.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
