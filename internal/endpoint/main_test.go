package endpoint

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if goroutines outlive its tests: redaction starts none.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
