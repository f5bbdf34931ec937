package stores

import (
	"testing"

	"github.com/hoard-dev/hoard/internal/leakcheck"
)

// TestMain fails the package if goroutines outlive its tests.
func TestMain(m *testing.M) {
	leakcheck.Main(m)
}
