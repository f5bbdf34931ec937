package flush_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if goroutines outlive the tests that started
// them: a Run loop or a flush must end with its ctx.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
