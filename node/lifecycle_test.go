package node_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/testcluster"
)

// TestShutdownHonoursDeadlineWithPendingAsync: Shutdown returns
// within its deadline even while the async loop waits on an unreachable
// owner.
func TestShutdownHonoursDeadlineWithPendingAsync(t *testing.T) {
	c, _ := counterCluster(t, 3, time.Hour)
	a := c.Node(0)
	key := keysOwnedBy(a, c.Node(1).Name(), 1)[0]
	c.Kill(1)
	if err := a.IncrAsync("pageviews", key, 1); err != nil {
		t.Fatal(err)
	}
	// Wait until the async loop has taken it and is retrying the dead owner.
	waitAsyncTaken(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_ = a.Shutdown(ctx)
	if took := time.Since(start); took > 700*time.Millisecond {
		t.Fatalf("Shutdown with a 300ms deadline took %v", took.Round(time.Millisecond))
	}
}

// TestLeaveDoesNotSilentlyDropAsyncIncrements: an acknowledged async
// increment still in the async loop's round when the node leaves must reach
// a sink or be reported (Leave error or Stats().AsyncLost).
func TestLeaveDoesNotSilentlyDropAsyncIncrements(t *testing.T) {
	c, mem := counterCluster(t, 2, time.Hour)
	a := c.Node(0)
	key := keysOwnedBy(a, c.Node(1).Name(), 1)[0]
	c.Kill(1)
	if err := a.IncrAsync("pageviews", key, 5); err != nil {
		t.Fatal(err)
	}
	// Wait until the async loop has taken it and is retrying the dead owner.
	waitAsyncTaken(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := a.Leave(ctx)
	lost := a.Stats().AsyncLost
	c.Close()
	if got := mem.Counts("pageviews")[key]; got != 5 && err == nil && lost == 0 {
		t.Fatalf("acknowledged async increment of 5 vanished: sink has %d, Leave err=nil, AsyncLost=0", got)
	}
}

// waitAsyncTaken waits until n's async loop has taken every pending sum.
func waitAsyncTaken(t *testing.T, n *node.Node) {
	t.Helper()
	testcluster.WaitFor(t, 5*time.Second, "the async loop to take the pending sum", func() error {
		if p := n.Stats().AsyncPending; p != 0 {
			return fmt.Errorf("%d sums still pending", p)
		}
		return nil
	})
}
