package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/loaders"
	"github.com/hoard-dev/hoard/node"
)

func TestRestartedNodeServesFromItsDump(t *testing.T) {
	l := valueLoader()
	c := cacheCluster(t, 3, l, func(sc *node.StoreConfig) { sc.Dump = true })
	ctx := ctxT(t)
	n2 := c.Node(1)
	keys := keysOwnedByStore(n2, "users", n2.Name(), 50)
	fetchAll(t, ctx, n2, keys)
	loads := l.Total()
	c.Shutdown(1) // writes the dump
	c.WaitConverged()
	c.Restart(1)
	c.WaitConverged()
	n2 = c.Node(1)
	for _, k := range keys {
		r, err := n2.Fetch(ctx, "users", k)
		if err != nil || r.Loaded || string(r.Value) != "v:"+k {
			t.Fatalf("%s after restart: %+v, %v; want it from the dump", k, r, err)
		}
	}
	if l.Total() != loads {
		t.Fatalf("the restarted node called the loader %d times", l.Total()-loads)
	}
}

func TestCorruptDumpIsSurvived(t *testing.T) {
	l := valueLoader()
	dir := t.TempDir()
	if err := os.MkdirAll(dir+"/cache", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/cache/users.dump", []byte("{not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	n, err := node.Start(ctx, &node.Config{
		Name: "solo", BindAddr: "127.0.0.1:0", RPCAddr: "127.0.0.1:0", DataDir: dir,
		Stores: []node.StoreConfig{{Name: "users", Kind: node.KindCache, Loader: l, Dump: true}},
	})
	if err != nil {
		t.Fatalf("start with a corrupt dump: %v", err)
	}
	defer n.Shutdown(context.Background())
	if r, err := n.Fetch(ctx, "users", "k"); err != nil || !r.Loaded {
		t.Fatalf("fetch: %+v, %v", r, err)
	}
}

// TestDumpEntriesKeepTheirAge: an entry read back from a dump keeps the
// time it was loaded, so its TTL runs from then; were it given a fresh TTL,
// an entry loaded long ago (and restarted again and again) would never
// expire.
func TestDumpEntriesKeepTheirAge(t *testing.T) {
	l := valueLoader()
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

// TestOversizedLoadIsRefusedAndTheDumpStaysReadable: a loaded value over
// max_value_bytes is refused, not cached, so every line of the dump fits
// the scanner that reads it back (2*max_value_bytes+64KiB). One big loaded
// value used to make the rest of the dump unreadable ("corrupt") at the
// next start.
func TestOversizedLoadIsRefusedAndTheDumpStaysReadable(t *testing.T) {
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
	fetchAll(t, ctx, n, keys)
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
