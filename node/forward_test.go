package node_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hoard-dev/hoard/node"
)

// TestBigDumpDoesNotFailWritesForwardedWithIt: a Dump whose answer is
// too large for a frame must fail alone, not turn the inserts forwarded in
// the same frame (and applied) into ErrIndeterminate.
func TestBigDumpDoesNotFailWritesForwardedWithIt(t *testing.T) {
	c, _ := bufferCluster(t, 2, func(sc *node.StoreConfig) { sc.MaxBytes = -1 })
	a := c.Node(0)
	snap := a.Ring()
	var keys []string
	for i := 0; len(keys) < 9; i++ {
		k := fmt.Sprintf("k%d", i)
		if _, o := snap.Locate("events", k); o.Name == c.Node(1).Name() {
			keys = append(keys, k)
		}
	}
	big, small := keys[0], keys[1:]
	ctx := ctxT(t)
	value := bytes.Repeat([]byte("x"), 1<<20)
	for range 20 { // 20 MiB: more than a frame holds
		if err := a.Insert(ctx, "events", big, value); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var indeterminate, ok atomic.Int64
	for g := range 4 {
		wg.Go(func() {
			for range 5 {
				_, _ = a.Dump(ctx, "events", big) // fails: too large, expected
			}
		})
		for j := range 2 {
			wg.Go(func() {
				for i := range 200 {
					err := a.Insert(ctx, "events", small[(g*2+j)%len(small)], []byte(fmt.Sprint(i)))
					switch {
					case err == nil:
						ok.Add(1)
					case errors.Is(err, node.ErrIndeterminate):
						indeterminate.Add(1)
					default:
						t.Error(err)
					}
				}
			})
		}
	}
	wg.Wait()
	held := 0
	for _, k := range small {
		n, err := a.Size(ctx, "events", k)
		if err != nil {
			t.Fatal(err)
		}
		held += n
	}
	if indeterminate.Load() > 0 {
		t.Logf("the owner holds %d of the %d small values: the indeterminate ones were applied", held, ok.Load()+indeterminate.Load())
		t.Fatalf("%d small inserts came back ErrIndeterminate (and %d ok) because a Dump shared their frame", indeterminate.Load(), ok.Load())
	}
}
