package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/loaders"
	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/sinks"
	"github.com/hoard-dev/hoard/testcluster"
)

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
}

// A refresh reads the source, then a Set (or Delete) of the key lands, then
// the refresh stores what it read before: the newer Set is overwritten and
// a deleted key comes back, until the next refresh. Loads were fixed for
// this (loadCall.stale); refresh was not.
func TestRefreshOverwritesConcurrentSetAndDelete(t *testing.T) {
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

// A load in flight when its partition moves away stores its value after
// dropLost ran: the entry is an orphan (counted, dumped, refreshed) and,
// when the partition comes back, it is served as a hit although the new
// owner had the key meanwhile.
func TestLoadInFlightDuringPartitionLossLeavesOrphans(t *testing.T) {
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
	waitFor(t, "every load in the loader", func() bool { return inFlight.Load() == int64(len(blocked)) })

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
		t.Skip("the join moved none of n1's keys")
	}
	// dropLost has run once n1 no longer holds the sentinels it lost.
	waitFor(t, "n1 to drop the lost partitions", func() bool {
		info, _ := n1.Info("users")
		return info[0].Keys == sentinelsKept
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

	// The orphans are served as hits when the partitions come back.
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

// A dump's entries get a fresh TTL at load: loadDump ignores their loaded
// time, so an entry loaded long ago (and restarted again and again) never
// expires.
func TestDumpEntriesKeepTheirAge(t *testing.T) {
	l := newCountingLoader(func(_ context.Context, key string) (loaders.Result, error) {
		return loaders.Result{Value: valueOf(key)}, nil
	})
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "cache"), 0o755); err != nil {
		t.Fatal(err)
	}
	line, _ := json.Marshal(map[string]any{"key": "old", "value": []byte("from a dump"), "loaded": time.Now().Add(-3 * time.Hour)})
	if err := os.WriteFile(filepath.Join(dir, "cache", "users.dump"), append(line, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	n, err := node.Start(ctx, &node.Config{
		Name: "solo", BindAddr: "127.0.0.1:0", RPCAddr: "127.0.0.1:0", DataDir: dir,
		Stores: []node.StoreConfig{{Name: "users", Kind: node.KindCache, Loader: l, Dump: true, TTL: time.Hour}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	r, err := n.Fetch(ctx, "users", "old")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Loaded {
		t.Fatalf("an entry loaded 3h ago with a 1h ttl was served from the dump as %q", r.Value)
	}
}

// max_entries "evicts the least recently read": with few entries spread
// over 1021 partitions the five samples almost always hit empty shards and
// the fallback takes the first key of the lowest non-empty partition,
// which is often the entry just loaded.
func TestMaxEntriesEvictsTheEntryJustLoaded(t *testing.T) {
	l := newCountingLoader(func(_ context.Context, key string) (loaders.Result, error) {
		return loaders.Result{Value: valueOf(key)}, nil
	})
	c := cacheCluster(t, 1, l, func(sc *node.StoreConfig) { sc.MaxEntries = 3 })
	n := c.Node(0)
	ctx := ctxT(t)
	const rounds = 40
	evictedNewest := 0
	for i := range rounds {
		keys := []string{fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i), fmt.Sprintf("c%d", i), fmt.Sprintf("d%d", i)}
		for _, k := range keys[:3] {
			if _, err := n.Fetch(ctx, "users", k); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := n.Fetch(ctx, "users", keys[3]); err != nil { // evicts one
			t.Fatal(err)
		}
		if l.Calls(keys[3]) != 1 {
			t.Fatal("d not loaded once")
		}
		if _, err := n.Fetch(ctx, "users", keys[3]); err != nil {
			t.Fatal(err)
		}
		if l.Calls(keys[3]) == 2 {
			evictedNewest++
		}
		for _, k := range keys {
			if _, err := n.Delete(ctx, "users", k); err != nil {
				t.Fatal(err)
			}
		}
	}
	if evictedNewest > rounds/10 {
		t.Fatalf("in %d of %d rounds the entry just loaded was the one evicted (and reloaded on the next read)", evictedNewest, rounds)
	}
}

// A cache miss holds the reply of the whole forwarded frame: increments
// (or cache hits) coalesced into the same frame as a slow load are
// acknowledged only when the load ends, and fail with ErrIndeterminate
// when that is after their deadline although they were applied.
func TestSlowLoadDelaysCoalescedIncrements(t *testing.T) {
	release := make(chan struct{})
	l := loaders.LoaderFunc(func(ctx context.Context, key string) (loaders.Result, error) {
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

	stop := make(chan struct{})
	var slow, failed, total atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
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
	// Keep the loads in the loader until an increment is held up, or 3s.
	deadline := time.Now().Add(3 * time.Second)
	for slow.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	close(release)
	loads.Wait()
	close(stop)
	wg.Wait()
	if slow.Load() > 0 || failed.Load() > 0 {
		t.Fatalf("%d of %d increments took over 500ms and %d failed (first: %v): they shared a forwarded frame with a slow cache load",
			slow.Load(), total.Load(), failed.Load(), firstErr.Load())
	}
}
