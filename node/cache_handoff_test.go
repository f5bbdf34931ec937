package node_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/testcluster"
)

// TestCacheEntriesMoveWithTheirPartition: when a join moves partitions,
// their entries reach the new owner, which serves them without loading
// them again.
func TestCacheEntriesMoveWithTheirPartition(t *testing.T) {
	l := valueLoader()
	c := cacheCluster(t, 2, l, nil)
	ctx := ctxT(t)
	keys := make([]string, 300)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%d", i)
		if _, err := c.Node(0).Fetch(ctx, "users", keys[i]); err != nil {
			t.Fatal(err)
		}
	}
	if l.Total() != len(keys) {
		t.Fatalf("%d loads for %d keys", l.Total(), len(keys))
	}
	c.Add()
	c.WaitConverged()
	n3 := c.Node(2).Name()
	moved := 0
	for _, k := range keys {
		if pl, _ := c.Node(0).Owner("users", k); pl.Owner.Name == n3 {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("the join moved no key")
	}
	testcluster.WaitFor(t, 10*time.Second, "the moved entries to reach the new node", func() error {
		if info, _ := c.Node(2).Info("users"); info[0].Keys != moved {
			return fmt.Errorf("%s holds %d entries, owns %d of the keys", n3, info[0].Keys, moved)
		}
		return nil
	})
	for _, k := range keys {
		r, err := c.Node(2).Fetch(ctx, "users", k)
		if err != nil || !r.Found || string(r.Value) != string(valueOf(k)) {
			t.Fatalf("%s: %+v, %v", k, r, err)
		}
	}
	if l.Total() != len(keys) {
		t.Fatalf("%d loads after the join, want still %d: moved entries were loaded again", l.Total(), len(keys))
	}
}

// TestGracefulLeaveDumpsWhatTheNodeHeld: a leave hands every partition
// over, but the dump is written before, so the node restarted on its own
// (its peer crashed meanwhile, taking what it was handed) serves its keys
// from the dump without loading them.
func TestGracefulLeaveDumpsWhatTheNodeHeld(t *testing.T) {
	l := valueLoader()
	c := cacheCluster(t, 2, l, func(sc *node.StoreConfig) { sc.Dump = true })
	ctx := ctxT(t)
	n1 := c.Node(0)
	keys := keysOwnedByStore(n1, "users", n1.Name(), 100)
	fetchAll(t, ctx, n1, keys)
	c.Leave(0)
	c.Kill(1)
	c.Restart(0)
	for _, k := range keys {
		r, err := c.Node(0).Fetch(ctx, "users", k)
		if err != nil || !r.Found || r.Loaded {
			t.Fatalf("%s after a leave and a restart: %+v, %v", k, r, err)
		}
	}
	if l.Total() != len(keys) {
		t.Fatalf("%d loads, want %d: the restart loaded again", l.Total(), len(keys))
	}
}

// TestGracefulLeaveHandsCacheEntriesOver: a leave returns once the entries
// it held are on their new owners, whenever the ring without the node
// reaches it: the peers serve every key at once, without loading it.
func TestGracefulLeaveHandsCacheEntriesOver(t *testing.T) {
	l := valueLoader()
	c := cacheCluster(t, 3, l, nil)
	ctx := ctxT(t)
	n1 := c.Node(0)
	keys := keysOwnedByStore(n1, "users", n1.Name(), 200)
	fetchAll(t, ctx, n1, keys)
	c.Leave(0)
	held := 0
	for _, n := range c.Nodes() {
		info, err := n.Info("users")
		if err != nil {
			t.Fatal(err)
		}
		held += info[0].Keys
	}
	if held != len(keys) {
		t.Fatalf("the peers hold %d entries once the leave returned; the leaving node held %d", held, len(keys))
	}
	for _, k := range keys {
		r, err := c.Node(1).Fetch(ctx, "users", k)
		if err != nil || !r.Found || r.Loaded {
			t.Fatalf("%s after the leave: %+v, %v", k, r, err)
		}
	}
	if l.Total() != len(keys) {
		t.Fatalf("%d loads, want %d: entries handed over were loaded again", l.Total(), len(keys))
	}
}
