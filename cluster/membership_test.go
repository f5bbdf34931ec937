package cluster_test

import (
	"context"
	"sync"
	"testing"
	"time"
)

// The last two nodes leaving at once each return as soon as they have told
// the other, not after the leave timeout.
func TestLastTwoNodesLeaveAtOnce(t *testing.T) {
	n1 := startNode(t, "n1", nil)
	n2 := startNode(t, "n2", nil)
	n2.join(t, n1)
	waitAlive(t, []*node{n1, n2}, "n1", "n2")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	took := make([]time.Duration, 2)
	for i, n := range []*node{n1, n2} {
		wg.Go(func() {
			start := time.Now()
			errs[i] = n.Leave(ctx)
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("n%d: Leave = %v", i+1, err)
		}
		if took[i] > 5*time.Second {
			t.Errorf("n%d: Leave took %s", i+1, took[i])
		}
		t.Logf("n%d left in %s", i+1, took[i])
	}
}
