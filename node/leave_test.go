package node_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/sinks"
)

// TestLeaveDuringRPCLeaveWaits: `hoard leave` starts a leave over
// RPC; while it is still flushing, SIGTERM makes the agent call n.Leave too
// and exit (closing its sinks) once that returns nil. Leave must therefore
// not report success before the leave in progress has finished.
func TestLeaveDuringRPCLeaveWaits(t *testing.T) {
	c, mem := counterCluster(t, 2, time.Hour)
	ctx := ctxT(t)
	n := c.Node(1)
	for i := range 50 {
		if err := n.Incr(ctx, "pageviews", fmt.Sprintf("k%d", i), 1); err != nil {
			t.Fatal(err)
		}
	}
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	mem.FailWith(func(sinks.Batch) error {
		once.Do(func() { close(entered) })
		<-release
		return nil
	})
	defer once.Do(func() {})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	defer releaseOnce()

	if err := dial(t, n.RPCAddr()).Leave(ctx); err != nil {
		t.Fatalf("leave over RPC: %v", err)
	}
	select {
	case <-entered: // the RPC leave is in its final flush, held by the sink
	case <-ctx.Done():
		t.Fatal("the leave asked over RPC never flushed")
	}
	// What the agent does on SIGTERM now. Leave waits for the leave in
	// progress: it may give up at its own deadline with an error, but must
	// never report success while that leave is still flushing.
	lctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	err := n.Leave(lctx)
	select {
	case <-n.Done():
	default:
		if err == nil {
			t.Fatal("Leave returned nil while the leave asked over RPC is still flushing: the agent would close its sinks and exit mid-flush, losing acknowledged writes")
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Leave gave up with %v, want its deadline", err)
		}
	}
	releaseOnce()
	<-n.Done()
}
