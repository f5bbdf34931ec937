package node_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/loaders"
	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/sinks"
	"github.com/hoard-dev/hoard/testcluster"
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

// TestSlowLoadDoesNotDelayIncrementsForwardedWithIt: a cache miss holds
// only its own reply, not the whole forwarded frame. Increments (or cache
// hits) coalesced into the same frame as a slow load are acknowledged at
// once; held until the load ended, they would fail with ErrIndeterminate at
// their deadline although they were applied.
func TestSlowLoadDoesNotDelayIncrementsForwardedWithIt(t *testing.T) {
	release := make(chan struct{})
	var loading atomic.Int64 // loads that entered the loader
	l := loaders.LoaderFunc(func(ctx context.Context, key string) (loaders.Result, error) {
		loading.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
			return loaders.Result{}, ctx.Err()
		}
		return loaders.Result{Value: valueOf(key)}, nil
	})
	mem := sinks.NewMemory()
	c := testcluster.New(t, 2, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		cfg.Stores = append(cfg.Stores,
			node.StoreConfig{Name: "users", Kind: node.KindCache, Loader: l},
			node.StoreConfig{Name: "pageviews", Kind: node.KindCounter, Sink: mem, Interval: time.Hour})
	}})
	n1, n2 := c.Node(0), c.Node(1)
	ctx := ctxT(t)
	cacheKeys := keysOwnedByStore(n1, "users", n2.Name(), 20)
	counterKeys := keysOwnedByStore(n1, "pageviews", n2.Name(), 20)

	const writers = 16
	stop := make(chan struct{})
	var slow, failed, total atomic.Int64
	var firstErr atomic.Value
	var loadsIn atomic.Bool           // every load is in the loader
	var caughtUp [writers]atomic.Bool // the writer finished an increment begun after loadsIn
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				after := loadsIn.Load()
				ictx, cancel := context.WithTimeout(ctx, time.Second)
				start := time.Now()
				err := n1.Incr(ictx, "pageviews", counterKeys[(i+j)%len(counterKeys)], 1)
				cancel()
				total.Add(1)
				if err != nil && failed.Add(1) == 1 {
					firstErr.Store(err.Error())
				}
				if time.Since(start) > 500*time.Millisecond {
					slow.Add(1)
				}
				if after {
					caughtUp[i].Store(true)
				}
			}
		})
	}
	var loads sync.WaitGroup
	for _, k := range cacheKeys {
		loads.Go(func() {
			fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_, _ = n1.Fetch(fctx, "users", k)
		})
	}
	// Keep the loads in the loader until every writer has finished an
	// increment it began once all of them were there. A frame carrying a
	// load was sent before the load began, so by then every increment sent
	// with one has come back: at once, or held until its 1s deadline.
	testcluster.WaitFor(t, 10*time.Second, "every load in the loader", func() error {
		if n := loading.Load(); n < int64(len(cacheKeys)) {
			return fmt.Errorf("%d of %d loads in the loader", n, len(cacheKeys))
		}
		return nil
	})
	loadsIn.Store(true)
	testcluster.WaitFor(t, 10*time.Second, "every writer to finish an increment begun after the loads", func() error {
		for i := range caughtUp {
			if !caughtUp[i].Load() {
				return fmt.Errorf("writer %d has not", i)
			}
		}
		return nil
	})
	close(release)
	loads.Wait()
	close(stop)
	wg.Wait()
	if slow.Load() > 0 || failed.Load() > 0 {
		t.Fatalf("%d of %d increments took over 500ms and %d failed (first: %v): they shared a forwarded frame with a slow cache load",
			slow.Load(), total.Load(), failed.Load(), firstErr.Load())
	}
}
