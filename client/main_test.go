package client_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if goroutines outlive its tests. The client
// package is exercised through real nodes in package node and cmd/hoard;
// tests added here are checked for leaks from the start.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
