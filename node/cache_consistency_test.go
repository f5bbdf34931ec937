package node_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/loaders"
	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/testcluster"
)

// TestRefreshKeepsNewerSetAndDelete: a refresh reads the source, then a Set
// (or Delete) of the key lands, then the refresh would store what it read
// before. The newer Set must stay, and a deleted key must not come back
// until the next refresh. (Loads had this guard, loadCall.stale, before
// refreshes did.)
func TestRefreshKeepsNewerSetAndDelete(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(ctx context.Context, n *node.Node) error
		check  func(t *testing.T, r node.FetchResult)
	}{
		{"set", func(ctx context.Context, n *node.Node) error {
			return n.Set(ctx, "users", "k", []byte("v2"))
		}, func(t *testing.T, r node.FetchResult) {
			if string(r.Value) != "v2" {
				t.Fatalf("after Set(k, v2) during a refresh, k = %q (loaded %v): the refresh overwrote the Set with the value it read before", r.Value, r.Loaded)
			}
		}},
		{"delete", func(ctx context.Context, n *node.Node) error {
			_, err := n.Delete(ctx, "users", "k")
			return err
		}, func(t *testing.T, r node.FetchResult) {
			if !r.Loaded {
				t.Fatalf("after Delete(k) during a refresh, k is still cached as %q: the refresh brought it back", r.Value)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var source atomic.Value
			source.Store("v1")
			var kCalls, k2Calls atomic.Int64
			kEntered := make(chan struct{}, 8)
			kRelease := make(chan struct{}, 8)
			round2 := make(chan struct{}, 8)
			l := loaders.LoaderFunc(func(ctx context.Context, key string) (loaders.Result, error) {
				switch key {
				case "k":
					v := source.Load().(string) // read before the change lands
					if kCalls.Add(1) == 2 {     // refresh round 1 reads k and waits
						kEntered <- struct{}{}
						select {
						case <-kRelease:
						case <-ctx.Done():
							return loaders.Result{}, ctx.Err()
						}
					}
					return loaders.Result{Value: []byte(v)}, nil
				case "k2":
					if k2Calls.Add(1) >= 3 { // refresh round 2: round 1 is over
						round2 <- struct{}{}
						<-ctx.Done()
						return loaders.Result{}, ctx.Err()
					}
				}
				return loaders.Result{Value: valueOf(key)}, nil
			})
			c := cacheCluster(t, 1, l, func(sc *node.StoreConfig) { sc.RefreshInterval = 50 * time.Millisecond })
			n := c.Node(0)
			ctx := ctxT(t)
			for _, k := range []string{"k", "k2"} {
				if _, err := n.Fetch(ctx, "users", k); err != nil {
					t.Fatal(err)
				}
			}
			select { // refresh round 1 is reading k
			case <-kEntered:
			case <-ctx.Done():
				t.Fatal("no refresh")
			}
			source.Store("v2")
			if err := tc.change(ctx, n); err != nil {
				t.Fatal(err)
			}
			kRelease <- struct{}{}
			select { // round 1 has stored what it read
			case <-round2:
			case <-ctx.Done():
				t.Fatal("no second refresh")
			}
			r, err := n.Fetch(ctx, "users", "k")
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatal(err)
			}
			tc.check(t, r)
		})
	}
}

// TestLoadFinishingAfterItsPartitionMovedIsNotCached: a load in flight when
// its partition moves away ends after the node dropped the partition's
// entries. Its value must not be stored: it would be an orphan entry
// (counted, dumped, refreshed) and, when the partition comes back, it would
// be served as a hit although the other owner had the key meanwhile.
func TestLoadFinishingAfterItsPartitionMovedIsNotCached(t *testing.T) {
	var version atomic.Int64
	version.Store(1)
	var gated atomic.Bool
	release := make(chan struct{})
	var inFlight atomic.Int64
	l := loaders.LoaderFunc(func(ctx context.Context, key string) (loaders.Result, error) {
		if gated.Load() {
			inFlight.Add(1)
			select {
			case <-release:
			case <-ctx.Done():
				return loaders.Result{}, ctx.Err()
			}
		}
		return loaders.Result{Value: []byte(fmt.Sprintf("%s@%d", key, version.Load()))}, nil
	})
	c := cacheCluster(t, 2, l, nil)
	ctx := ctxT(t)
	n1 := c.Node(0)
	owned := keysOwnedByStore(n1, "users", n1.Name(), 400)
	sentinels, blocked := owned[:200], owned[200:]
	for _, k := range sentinels {
		if _, err := n1.Fetch(ctx, "users", k); err != nil {
			t.Fatal(err)
		}
	}
	gated.Store(true)
	var wg sync.WaitGroup
	for _, k := range blocked {
		wg.Go(func() { _, _ = n1.Fetch(ctx, "users", k) })
	}
	testcluster.WaitFor(t, 10*time.Second, "every load in the loader", func() error {
		if n := inFlight.Load(); n != int64(len(blocked)) {
			return fmt.Errorf("%d of %d loads in the loader", n, len(blocked))
		}
		return nil
	})

	c.Add()
	c.WaitConverged()
	snap := n1.Ring()
	stillOwned := func(keys []string) (n int) {
		for _, k := range keys {
			if _, o := snap.Locate("users", k); o.Name == n1.Name() {
				n++
			}
		}
		return n
	}
	sentinelsKept := stillOwned(sentinels)
	if sentinelsKept == len(sentinels) {
		// Placement depends on the node names alone: this is the same on
		// every run.
		t.Fatal("the join moved none of n1's keys; pick more keys")
	}
	// dropLost has run once n1 no longer holds the sentinels it lost.
	testcluster.WaitFor(t, 10*time.Second, "n1 to drop the lost partitions", func() error {
		if info, _ := n1.Info("users"); info[0].Keys != sentinelsKept {
			return fmt.Errorf("n1 holds %d entries, owns %d", info[0].Keys, sentinelsKept)
		}
		return nil
	})
	gated.Store(false)
	close(release)
	wg.Wait()

	info, _ := n1.Info("users")
	want := sentinelsKept + stillOwned(blocked)
	if info[0].Keys != want {
		t.Errorf("n1 holds %d entries but owns %d of them: %d loads that finished after their partition moved away left orphan entries",
			info[0].Keys, want, info[0].Keys-want)
	}

	// No orphan is served as a hit when the partitions come back.
	version.Store(2)
	c.Leave(2)
	c.WaitConverged()
	stale := 0
	for _, k := range blocked {
		if _, o := n1.Ring().Locate("users", k); o.Name != n1.Name() {
			continue
		}
		r, err := n1.Fetch(ctx, "users", k)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Loaded && string(r.Value) == k+"@1" {
			stale++
		}
	}
	// Keys n1 kept all along are legitimately cached at @1; count only the
	// ones that moved to n3 and back.
	keptAllAlong := stillOwned(blocked)
	if stale > keptAllAlong {
		t.Errorf("%d keys that n3 owned meanwhile were served by n1 from orphan entries (stale @1, loader says @2)", stale-keptAllAlong)
	}
}

// TestOwnerLeavingDuringLoadNeverAnswersNotFound: a load cut short because
// its owner is stopping must not be reported as a loader failure, which Get
// answers as "not found" for a key that exists; the op goes to the next
// owner instead (as ErrShutdown, mapped to NOT_OWNER, does).
func TestOwnerLeavingDuringLoadNeverAnswersNotFound(t *testing.T) {
	entered := make(chan struct{}, 16)
	slow := loaders.LoaderFunc(func(ctx context.Context, key string) (loaders.Result, error) {
		entered <- struct{}{}
		<-ctx.Done() // a slow database
		return loaders.Result{}, ctx.Err()
	})
	fast := loaders.LoaderFunc(func(_ context.Context, key string) (loaders.Result, error) {
		return loaders.Result{Value: valueOf(key)}, nil
	})
	c := testcluster.New(t, 2, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		l := fast
		if i == 1 {
			l = slow
		}
		cfg.Stores = append(cfg.Stores, node.StoreConfig{Name: "users", Kind: node.KindCache, Loader: l})
	}})
	n1, n2 := c.Node(0), c.Node(1)
	ctx := ctxT(t)
	key := keysOwnedByStore(n1, "users", n2.Name(), 1)[0]
	type result struct {
		v     []byte
		found bool
		err   error
	}
	got := make(chan result, 1)
	go func() {
		v, found, err := n1.Get(ctx, "users", key)
		got <- result{v, found, err}
	}()
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("no load on n2")
	}
	c.Leave(1)
	r := <-got
	if r.err == nil && !r.found {
		t.Fatalf("Get of %s while its owner left mid-load: not found (no error); the next owner would have found %q", key, valueOf(key))
	}
}

// TestSimultaneousMissesOnTheOwnerLoadOnce: callers missing the same key
// at once on its owner share one load. The miss check and the join of a
// load in flight must be one critical section: a load finishing between
// them has cached the value and left the shard's loads, and the late caller
// would start a second load of a key that is cached.
func TestSimultaneousMissesOnTheOwnerLoadOnce(t *testing.T) {
	l := valueLoader()
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
