// Package leakcheck fails a test binary whose goroutines outlive its tests.
//
// It is goleak's VerifyTestMain with one allowance. memberlist's Shutdown
// does not join a failure-detector probe already in flight: that goroutine
// waits for its own ack timer, at most the probe interval times the
// awareness multiplier, and then ends. Every other goroutine must be gone
// when the tests are (goleak's own short retries), and memberlist's probes
// must be gone within probeGrace.
package leakcheck

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// probeGrace bounds the wait for memberlist probes in flight at Shutdown.
// The test clusters probe every 200ms with memberlist's default awareness
// multiplier of 8: a probe ends within 1.6s of its start.
const probeGrace = 10 * time.Second

// probe is the frame a memberlist probe in flight waits in.
const probe = "github.com/hashicorp/memberlist.(*Memberlist).probeNode"

// Main runs the tests and exits non-zero if they fail or leave goroutines.
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := check(); err != nil {
			fmt.Fprintf(os.Stderr, "leakcheck: errors on a successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func check() error {
	if err := goleak.Find(goleak.IgnoreAnyFunction(probe)); err != nil {
		return err
	}
	deadline := time.Now().Add(probeGrace)
	for {
		err := goleak.Find()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
