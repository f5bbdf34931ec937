package disk_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if goroutines outlive its tests: disk starts none.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
