package node_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/hoard-dev/hoard/loaders"
)

// The miss check (cacheOp's get) and the join of a load in flight
// (startLoad) are two critical sections: a load that finishes between them
// has cached the value and left sh.loads, so the late caller starts a
// second load of a key that is cached.
func TestSingleflightHoleBetweenMissAndStartLoad(t *testing.T) {
	l := newCountingLoader(func(_ context.Context, key string) (loaders.Result, error) {
		return loaders.Result{Value: valueOf(key)}, nil
	})
	c := cacheCluster(t, 1, l, nil)
	n := c.Node(0)
	ctx := ctxT(t)
	const keys, callers = 3000, 8
	for k := range keys {
		key := fmt.Sprintf("sf-%d", k)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				<-start
				_, _ = n.Fetch(ctx, "users", key)
			})
		}
		close(start)
		wg.Wait()
	}
	twice := 0
	for k := range keys {
		if l.Calls(fmt.Sprintf("sf-%d", k)) > 1 {
			twice++
		}
	}
	if twice > 0 {
		t.Fatalf("%d of %d keys were loaded more than once by %d simultaneous callers on their owner", twice, keys, callers)
	}
}
