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
	"github.com/hoard-dev/hoard/testcluster"
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

// TestRestartedNodeTakesWhatChangedMeanwhile: a node back from a restart
// serves from its dump only what did not change while it was away. The
// nodes that held its partitions meanwhile hand them back with the keys
// set there (newer than the dump's) and the keys deleted there lately,
// which the restarted node then loads again. Before 2026-12-01 the dump's
// older entries won both: the old values were served until they expired,
// were refreshed or set again. The node goes either by Shutdown, which
// hands nothing over, or by Leave, which hands its entries over first.
func TestRestartedNodeTakesWhatChangedMeanwhile(t *testing.T) {
	for _, leave := range []bool{false, true} {
		t.Run(fmt.Sprint("leave ", leave), func(t *testing.T) { testRestartTakesChanges(t, leave) })
	}
}

func testRestartTakesChanges(t *testing.T, leave bool) {
	l := valueLoader()
	c := cacheCluster(t, 3, l, func(sc *node.StoreConfig) { sc.Dump = true })
	ctx := ctxT(t)
	n2 := c.Node(1)
	keys := keysOwnedByStore(n2, "users", n2.Name(), 30)
	fetchAll(t, ctx, n2, keys)
	if leave {
		c.Leave(1) // writes the dump, hands the entries over
	} else {
		c.Shutdown(1) // writes the dump
	}
	c.WaitConverged()
	set, deleted, same := keys[:10], keys[10:20], keys[20:]
	n1 := c.Node(0)
	for _, k := range set {
		if err := n1.Set(ctx, "users", k, []byte("new:"+k)); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range deleted {
		// Held there only if handed over by the leave.
		if gone, err := n1.Delete(ctx, "users", k); err != nil || gone != leave {
			t.Fatalf("delete %s while n2 is away: %v, %v; want %v", k, gone, err, leave)
		}
	}
	loads := map[string]int{}
	for _, k := range keys {
		loads[k] = l.Calls(k)
	}
	c.Restart(1)
	c.WaitConverged()
	n2 = c.Node(1)
	testcluster.WaitFor(t, 10*time.Second, "the keys changed meanwhile to reach the restarted node", func() error {
		for _, k := range set {
			if v, ok, err := n2.Get(ctx, "users", k); err != nil || !ok || string(v) != "new:"+k {
				return fmt.Errorf("%s: %q, %v, %v; want new:%s", k, v, ok, err, k)
			}
		}
		for _, k := range deleted {
			if l.Calls(k) > loads[k] {
				continue // loaded again: the dump's entry is gone
			}
			if _, err := n2.Fetch(ctx, "users", k); err != nil {
				return err
			}
			if l.Calls(k) == loads[k] {
				return fmt.Errorf("%s, deleted while n2 was away, served from its dump", k)
			}
		}
		return nil
	})
	for _, k := range same {
		r, err := n2.Fetch(ctx, "users", k)
		if err != nil || r.Loaded || string(r.Value) != "v:"+k {
			t.Fatalf("%s, unchanged: %+v, %v; want it from the dump", k, r, err)
		}
	}
	for _, k := range append(set, same...) {
		if l.Calls(k) != loads[k] {
			t.Fatalf("%s loaded again after the restart; only the deleted keys should be", k)
		}
	}
}
