package node_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/client"
	"github.com/hoard-dev/hoard/loaders"
	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/testcluster"
)

// countingLoader records its calls per key and answers through fn.
type countingLoader struct {
	mu    sync.Mutex
	calls map[string]int
	fn    func(ctx context.Context, key string) (loaders.Result, error)
}

func newCountingLoader(fn func(ctx context.Context, key string) (loaders.Result, error)) *countingLoader {
	return &countingLoader{calls: map[string]int{}, fn: fn}
}

func (l *countingLoader) Load(ctx context.Context, key string) (loaders.Result, error) {
	l.mu.Lock()
	l.calls[key]++
	l.mu.Unlock()
	return l.fn(ctx, key)
}

func (l *countingLoader) Calls(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls[key]
}

func (l *countingLoader) Total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	total := 0
	for _, n := range l.calls {
		total += n
	}
	return total
}

// valueOf is the value the test loaders give a key.
func valueOf(key string) []byte { return []byte("v:" + key) }

func cacheCluster(t *testing.T, n int, l loaders.Loader, tweak func(*node.StoreConfig)) *testcluster.Cluster {
	t.Helper()
	return testcluster.New(t, n, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		sc := node.StoreConfig{Name: "users", Kind: node.KindCache, Loader: l}
		if tweak != nil {
			tweak(&sc)
		}
		cfg.Stores = append(cfg.Stores, sc)
	}})
}

func TestCacheMissLoadsThenHits(t *testing.T) {
	l := newCountingLoader(func(_ context.Context, key string) (loaders.Result, error) {
		if key == "ghost" {
			return loaders.Result{}, loaders.ErrNotFound
		}
		return loaders.Result{Value: valueOf(key)}, nil
	})
	c := cacheCluster(t, 3, l, nil)
	ctx := ctxT(t)
	cl := dial(t, c.RPCAddrs()...)

	r, err := c.Node(0).Fetch(ctx, "users", "alice")
	if err != nil || !r.Found || !r.Loaded || string(r.Value) != "v:alice" {
		t.Fatalf("first fetch: %+v, %v; want a load", r, err)
	}
	for _, n := range c.Nodes() {
		r, err := n.Fetch(ctx, "users", "alice")
		if err != nil || !r.Found || r.Loaded || string(r.Value) != "v:alice" {
			t.Fatalf("%s: fetch %+v, %v; want a cache hit", n.Name(), r, err)
		}
	}
	v, found, err := cl.Get(ctx, "users", "alice")
	if err != nil || !found || string(v) != "v:alice" {
		t.Fatalf("client get: %q %v %v", v, found, err)
	}
	if got := l.Calls("alice"); got != 1 {
		t.Fatalf("loader called %d times for alice, want 1", got)
	}
	if _, found, err := cl.Get(ctx, "users", "ghost"); err != nil || found {
		t.Fatalf("get of a missing key: found %v, %v", found, err)
	}
}

func TestCacheSetDeleteAndSkipSave(t *testing.T) {
	l := valueLoader()
	c := cacheCluster(t, 3, l, nil)
	ctx := ctxT(t)
	cl := dial(t, c.RPCAddrs()...)
	if err := cl.Set(ctx, "users", "bob", []byte("direct")); err != nil {
		t.Fatal(err)
	}
	r, err := cl.Fetch(ctx, "users", "bob")
	if err != nil || string(r.Value) != "direct" || r.Loaded {
		t.Fatalf("fetch after set: %+v, %v", r, err)
	}
	if l.Calls("bob") != 0 {
		t.Fatal("set value was loaded anyway")
	}
	if existed, err := cl.Delete(ctx, "users", "bob"); err != nil || !existed {
		t.Fatalf("delete: %v %v", existed, err)
	}
	if r, _ := cl.Fetch(ctx, "users", "bob"); !r.Loaded || string(r.Value) != "v:bob" {
		t.Fatalf("fetch after delete did not load: %+v", r)
	}

	skip := valueLoader()
	c2 := cacheCluster(t, 2, skip, func(sc *node.StoreConfig) { sc.SkipSave = true })
	for range 3 {
		if r, err := c2.Node(0).Fetch(ctx, "users", "x"); err != nil || !r.Loaded {
			t.Fatalf("skip_save fetch: %+v, %v", r, err)
		}
	}
	if got := skip.Calls("x"); got != 3 {
		t.Fatalf("skip_save: loader called %d times, want 3 (nothing cached)", got)
	}
}

func TestLoaderErrorsAreReturnedNotCached(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	l := newCountingLoader(func(_ context.Context, key string) (loaders.Result, error) {
		if key == "boom" {
			panic("loader exploded")
		}
		if fail.Load() {
			return loaders.Result{}, errors.New("database unreachable")
		}
		return loaders.Result{Value: valueOf(key)}, nil
	})
	c := cacheCluster(t, 3, l, nil)
	ctx := ctxT(t)
	cl := dial(t, c.RPCAddrs()...)
	if _, err := cl.Fetch(ctx, "users", "carol"); !errors.Is(err, client.ErrLoadFailed) || !strings.Contains(err.Error(), "database unreachable") {
		t.Fatalf("fetch with a failing loader: %v", err)
	}
	if _, err := c.Node(1).Fetch(ctx, "users", "carol"); !errors.Is(err, node.ErrLoadFailed) {
		t.Fatalf("node fetch: %v", err)
	}
	if _, found, err := cl.Get(ctx, "users", "carol"); err != nil || found {
		t.Fatalf("get with a failing loader: found %v, %v; want not found", found, err)
	}
	fail.Store(false)
	if r, err := cl.Fetch(ctx, "users", "carol"); err != nil || !r.Loaded {
		t.Fatalf("the failure was cached: %+v, %v", r, err)
	}
	// A panicking loader is an error, and the node goes on.
	if _, err := cl.Fetch(ctx, "users", "boom"); !errors.Is(err, client.ErrLoadFailed) || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("panicking loader: %v", err)
	}
	if r, err := cl.Fetch(ctx, "users", "dave"); err != nil || !r.Found {
		t.Fatalf("node unusable after a loader panic: %+v, %v", r, err)
	}
}

func TestLoaderExtraEntriesAreCached(t *testing.T) {
	l := newCountingLoader(func(_ context.Context, key string) (loaders.Result, error) {
		extra := map[string][]byte{}
		for i := range 20 {
			extra[fmt.Sprintf("%s-%d", key, i)] = []byte(fmt.Sprintf("extra %d", i))
		}
		return loaders.Result{Value: valueOf(key), Extra: extra}, nil
	})
	c := cacheCluster(t, 3, l, nil)
	ctx := ctxT(t)
	if _, err := c.Node(0).Fetch(ctx, "users", "team"); err != nil {
		t.Fatal(err)
	}
	// The extra entries are set at their owners shortly after the load.
	testcluster.WaitFor(t, 10*time.Second, "the key and its 20 extras to be cached", func() error {
		held := 0
		for _, n := range c.Nodes() {
			info, _ := n.Info("users")
			held += info[0].Keys
		}
		if held != 21 {
			return fmt.Errorf("%d entries cached, want the key and its 20 extras", held)
		}
		return nil
	})
	for i := range 20 {
		key := fmt.Sprintf("team-%d", i)
		r, err := c.Node(i%3).Fetch(ctx, "users", key)
		if err != nil || r.Loaded || string(r.Value) != fmt.Sprintf("extra %d", i) {
			t.Fatalf("%s: %+v, %v; want the extra value from the cache", key, r, err)
		}
	}
	if l.Total() != 1 {
		t.Fatalf("loader called %d times, want 1", l.Total())
	}
}

func TestConcurrentMissesShareOneLoad(t *testing.T) {
	release := make(chan struct{})
	l := newCountingLoader(func(ctx context.Context, key string) (loaders.Result, error) {
		select {
		case <-release:
		case <-ctx.Done():
			return loaders.Result{}, ctx.Err()
		}
		return loaders.Result{Value: valueOf(key)}, nil
	})
	c := cacheCluster(t, 3, l, nil)
	ctx := ctxT(t)
	var clients []*client.Client
	for _, addr := range c.RPCAddrs() {
		clients = append(clients, dial(t, addr))
	}
	var wg sync.WaitGroup
	var bad atomic.Int64
	for i := range 50 {
		wg.Go(func() {
			v, found, err := clients[i%3].Get(ctx, "users", "hot")
			if err != nil || !found || string(v) != "v:hot" {
				bad.Add(1)
			}
		})
	}
	// Wait until the one load is in the loader, then let it finish.
	testcluster.WaitFor(t, 10*time.Second, "the load of hot", func() error {
		if l.Calls("hot") == 0 {
			return errors.New("no load started")
		}
		return nil
	})
	close(release)
	wg.Wait()
	if bad.Load() > 0 {
		t.Fatalf("%d gets failed", bad.Load())
	}
	if got := l.Calls("hot"); got != 1 {
		t.Fatalf("50 concurrent gets over 3 nodes called the loader %d times, want 1", got)
	}

	// 1,000 keys read from all nodes: each loaded exactly once.
	for k := range 1000 {
		key := fmt.Sprintf("user-%d", k)
		for _, cl := range clients {
			if _, found, err := cl.Get(ctx, "users", key); err != nil || !found {
				t.Fatalf("get %s: %v %v", key, found, err)
			}
		}
	}
	for k := range 1000 {
		if got := l.Calls(fmt.Sprintf("user-%d", k)); got != 1 {
			t.Fatalf("user-%d loaded %d times", k, got)
		}
	}
}

func TestCacheInitSeeds(t *testing.T) {
	l := valueLoader()
	seeded := &seedingLoader{countingLoader: l, entries: map[string][]byte{}}
	for i := range 30 {
		seeded.entries[fmt.Sprintf("seed-%d", i)] = []byte(fmt.Sprintf("s%d", i))
	}
	c := cacheCluster(t, 3, seeded, nil)
	ctx := ctxT(t)
	cl := dial(t, c.RPCAddrs()...)
	for i := range 30 {
		r, err := cl.Fetch(ctx, "users", fmt.Sprintf("seed-%d", i))
		if err != nil || r.Loaded || string(r.Value) != fmt.Sprintf("s%d", i) {
			t.Fatalf("seed-%d: %+v, %v; want the seeded value from the cache", i, r, err)
		}
	}
	if l.Total() != 0 {
		t.Fatalf("seeded keys were loaded %d times", l.Total())
	}

	// An init error is logged and the node starts; ErrStopStart stops it.
	failing := &seedingLoader{countingLoader: l, err: errors.New("no seed today")}
	cacheCluster(t, 1, failing, nil)
	stop := &seedingLoader{countingLoader: l, err: fmt.Errorf("schema missing: %w", loaders.ErrStopStart)}
	_, err := node.Start(ctx, &node.Config{
		Name: "stopper", BindAddr: "127.0.0.1:0", RPCAddr: "127.0.0.1:0", DataDir: t.TempDir(),
		Stores: []node.StoreConfig{{Name: "users", Kind: node.KindCache, Loader: stop}},
	})
	if !errors.Is(err, loaders.ErrStopStart) {
		t.Fatalf("start with an init asking to stop: %v", err)
	}
}

type seedingLoader struct {
	*countingLoader
	entries map[string][]byte
	err     error
}

func (s *seedingLoader) Init(context.Context) (map[string][]byte, error) { return s.entries, s.err }

func TestCacheRefreshKeepsOldValuesOnFailure(t *testing.T) {
	var version, failing atomic.Int64
	l := newCountingLoader(func(_ context.Context, key string) (loaders.Result, error) {
		if failing.Load() == 1 {
			return loaders.Result{}, errors.New("flaky")
		}
		return loaders.Result{Value: []byte(fmt.Sprintf("%s@%d", key, version.Load()))}, nil
	})
	c := cacheCluster(t, 2, l, func(sc *node.StoreConfig) { sc.RefreshInterval = 100 * time.Millisecond })
	ctx := ctxT(t)
	cl := dial(t, c.RPCAddrs()...)
	for i := range 10 {
		if _, _, err := cl.Get(ctx, "users", fmt.Sprintf("k%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	version.Store(1)
	waitValue := func(what string, want func(string) string) {
		t.Helper()
		i := 0 // keys k0..k(i-1) have been seen with their wanted value
		testcluster.WaitFor(t, 10*time.Second, what, func() error {
			for ; i < 10; i++ {
				key := fmt.Sprintf("k%d", i)
				r, err := cl.Fetch(ctx, "users", key)
				if err != nil {
					t.Fatal(err)
				}
				if r.Loaded {
					t.Fatalf("%s was not cached", key)
				}
				if string(r.Value) != want(key) {
					return fmt.Errorf("%s = %q, want %q", key, r.Value, want(key))
				}
			}
			return nil
		})
	}
	waitValue("every key to be refreshed", func(k string) string { return k + "@1" })
	failing.Store(1)
	version.Store(2)
	before := l.Total()
	testcluster.WaitFor(t, 10*time.Second, "two more refresh rounds, all failing", func() error {
		if l.Total() < before+20 {
			return fmt.Errorf("refresh stopped: %d loads since the loader began failing", l.Total()-before)
		}
		return nil
	})
	waitValue("the old values to be kept", func(k string) string { return k + "@1" })
}

func TestCacheTTLAndMaxEntries(t *testing.T) {
	l := valueLoader()
	c := cacheCluster(t, 1, l, func(sc *node.StoreConfig) { sc.TTL = 200 * time.Millisecond })
	n := c.Node(0)
	ctx := ctxT(t)
	if _, err := n.Fetch(ctx, "users", "k"); err != nil {
		t.Fatal(err)
	}
	testcluster.WaitFor(t, 10*time.Second, "the entry to be swept after its TTL", func() error {
		if info, _ := n.Info("users"); info[0].Keys != 0 {
			return fmt.Errorf("entry never expired: %d held", info[0].Keys)
		}
		return nil
	})
	if r, _ := n.Fetch(ctx, "users", "k"); !r.Loaded {
		t.Fatal("expired entry still served")
	}

	c2 := cacheCluster(t, 1, l, func(sc *node.StoreConfig) { sc.MaxEntries = 100 })
	n2 := c2.Node(0)
	for i := range 500 {
		if _, err := n2.Fetch(ctx, "users", fmt.Sprintf("m%d", i)); err != nil {
			t.Fatal(err)
		}
		if i >= 400 { // keep the last hundred hot
			if _, err := n2.Fetch(ctx, "users", fmt.Sprintf("m%d", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	info, _ := n2.Info("users")
	if info[0].Keys > 100 {
		t.Fatalf("%d entries held, max_entries 100", info[0].Keys)
	}
}

// TestMaxEntriesSparesTheEntryJustLoaded: max_entries evicts an entry
// read long ago, almost never the one just loaded. With few entries spread
// over 1021 partitions, sampling a few shards hits empty ones; a fallback
// that took the first key of the lowest non-empty partition often evicted
// the entry just loaded.
func TestMaxEntriesSparesTheEntryJustLoaded(t *testing.T) {
	l := valueLoader()
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

// valueLoader is a counting loader that finds every key, with valueOf.
func valueLoader() *countingLoader {
	return newCountingLoader(func(_ context.Context, key string) (loaders.Result, error) {
		return loaders.Result{Value: valueOf(key)}, nil
	})
}

// fetchAll fetches every key of the users store from n, failing the test
// on an error.
func fetchAll(t *testing.T, ctx context.Context, n *node.Node, keys []string) {
	t.Helper()
	for _, k := range keys {
		if _, err := n.Fetch(ctx, "users", k); err != nil {
			t.Fatal(err)
		}
	}
}

// keysOwnedByStore returns count keys of store owned by the named node.
func keysOwnedByStore(n *node.Node, store, owner string, count int) []string {
	snap := n.Ring()
	var keys []string
	for i := 0; len(keys) < count; i++ {
		k := fmt.Sprintf("key-%d", i)
		if _, o := snap.Locate(store, k); o.Name == owner {
			keys = append(keys, k)
		}
	}
	return keys
}

func TestLostPartitionsDropTheirEntries(t *testing.T) {
	l := valueLoader()
	c := cacheCluster(t, 2, l, nil)
	ctx := ctxT(t)
	n1 := c.Node(0)
	keys := keysOwnedByStore(n1, "users", n1.Name(), 200)
	fetchAll(t, ctx, n1, keys)
	c.Add()
	c.WaitConverged()
	// n1 now holds only the keys it still owns.
	snap := n1.Ring()
	still := 0
	for _, k := range keys {
		if _, o := snap.Locate("users", k); o.Name == n1.Name() {
			still++
		}
	}
	if still == len(keys) {
		t.Fatal("the join moved none of n1's keys; pick more keys")
	}
	testcluster.WaitFor(t, 10*time.Second, "n1 to drop the partitions it lost", func() error {
		if info, _ := n1.Info("users"); info[0].Keys != still {
			return fmt.Errorf("n1 holds %d entries, owns %d of its old keys", info[0].Keys, still)
		}
		return nil
	})
	// The new owner loads a moved key on its first miss.
	for _, k := range keys {
		if _, o := snap.Locate("users", k); o.Name != n1.Name() {
			r, err := c.Node(2).Fetch(ctx, "users", k)
			if err != nil || !r.Found {
				t.Fatalf("%s: %+v, %v", k, r, err)
			}
			break
		}
	}
}
