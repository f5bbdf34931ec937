package node_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/loaders"
	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/testcluster"
)

// Loaded values are not held to max_value_bytes, but loadDump's scanner
// only takes lines up to 2*max_value_bytes+64KiB: one big loaded value
// makes the rest of the dump unreadable ("corrupt") at the next start.
func TestBigLoadedValueBreaksTheDump(t *testing.T) {
	l := newCountingLoader(func(_ context.Context, key string) (loaders.Result, error) {
		if key == "big" {
			return loaders.Result{Value: bytes.Repeat([]byte("x"), 200<<10)}, nil
		}
		return loaders.Result{Value: valueOf(key)}, nil
	})
	dir := t.TempDir()
	cfg := func() *node.Config {
		return &node.Config{
			Name: "solo", BindAddr: "127.0.0.1:0", RPCAddr: "127.0.0.1:0", DataDir: dir, MaxValueBytes: 1024,
			Stores: []node.StoreConfig{{Name: "users", Kind: node.KindCache, Loader: l, Dump: true}},
		}
	}
	ctx := ctxT(t)
	n, err := node.Start(ctx, cfg())
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"big"}
	for i := range 100 {
		keys = append(keys, fmt.Sprintf("k%d", i))
	}
	// A loaded value over max_value_bytes is refused, not cached.
	if _, err := n.Fetch(ctx, "users", "big"); !errors.Is(err, node.ErrLoadFailed) {
		t.Fatalf("fetch of an oversized value: %v, want ErrLoadFailed", err)
	}
	keys = keys[1:]
	for _, k := range keys {
		if _, err := n.Fetch(ctx, "users", k); err != nil {
			t.Fatal(err)
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := n.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	n, err = node.Start(ctx, cfg())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	info, _ := n.Info("users")
	if info[0].Keys != len(keys) {
		t.Fatalf("the restarted node read %d of the %d dumped entries: the line of a %d-byte loaded value stopped the scan",
			info[0].Keys, len(keys), 200<<10)
	}
}

// A load cut short because its owner is stopping is reported as a loader
// failure: Get answers "not found" for a key that exists, instead of the op
// going to the next owner (as ErrShutdown, mapped to NOT_OWNER, would).
func TestOwnerLeavingDuringLoadAnswersNotFound(t *testing.T) {
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
