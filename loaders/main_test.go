package loaders_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if goroutines outlive its tests: a closed loader must have stopped its connections and their goroutines.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
