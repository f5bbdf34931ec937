package sinks_test

import (
	"testing"

	"github.com/hoard-dev/hoard/internal/leakcheck"
)

// TestMain fails the package if goroutines outlive its tests: a closed sink must have stopped its connections and their goroutines.
func TestMain(m *testing.M) {
	leakcheck.Main(m)
}
