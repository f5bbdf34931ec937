package wal

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if goroutines outlive its tests: every Log's
// writer and sync goroutines must end at Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
