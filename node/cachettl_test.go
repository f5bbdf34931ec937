package node_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/loaders"
	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/testcluster"
)

// notFoundLoader finds no key: a cache entry reads as not found once it
// is gone.
func notFoundLoader() *countingLoader {
	return newCountingLoader(func(context.Context, string) (loaders.Result, error) {
		return loaders.Result{}, loaders.ErrNotFound
	})
}

// waitExpired polls key on n until it reads as not found, failing the
// test if it does before ttl has passed since start, or not within
// timeout. Its reads must not keep the entry alive.
func waitExpired(t *testing.T, n *node.Node, key string, start time.Time, ttl, timeout time.Duration) {
	t.Helper()
	ctx := ctxT(t)
	testcluster.WaitFor(t, timeout, key+" to expire", func() error {
		v, found, err := n.Get(ctx, "users", key)
		switch {
		case err != nil:
			return err
		case found:
			return fmt.Errorf("%s still reads as %q", key, v)
		}
		return nil
	})
	if since := time.Since(start); since < ttl {
		t.Fatalf("%s expired %v after its set, before its ttl of %v", key, since, ttl)
	}
}

// TestCacheSetTTLExpiresAtTheOwner: an entry set with a TTL through a node
// that does not own it reads back at once from either node, is not kept
// alive by those reads, and reads as not found once the TTL has passed; a
// plain Set stays.
func TestCacheSetTTLExpiresAtTheOwner(t *testing.T) {
	l := notFoundLoader()
	c := cacheCluster(t, 2, l, nil)
	ctx := ctxT(t)
	owner, other := c.Node(1), c.Node(0)
	keys := keysOwnedByStore(other, "users", owner.Name(), 2)
	brief, plain := keys[0], keys[1]

	const ttl = 2 * time.Second
	start := time.Now()
	if err := other.SetTTL(ctx, "users", brief, []byte("soon gone"), ttl); err != nil {
		t.Fatal(err)
	}
	if err := other.Set(ctx, "users", plain, []byte("stays")); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node.Node{other, owner} {
		if v, found, err := n.Get(ctx, "users", brief); err != nil || !found || string(v) != "soon gone" {
			t.Fatalf("%s reads %s at once as %q, %v, %v", n.Name(), brief, v, found, err)
		}
	}
	waitExpired(t, other, brief, start, ttl, 10*time.Second)
	if v, found, err := owner.Get(ctx, "users", brief); err != nil || found {
		t.Fatalf("the owner reads %s past its ttl as %q, %v, %v", brief, v, found, err)
	}
	if l.Calls(brief) == 0 {
		t.Fatalf("%s past its ttl did not load again", brief)
	}
	if v, found, err := other.Get(ctx, "users", plain); err != nil || !found || string(v) != "stays" {
		t.Fatalf("%s, set without a ttl, reads as %q, %v, %v", plain, v, found, err)
	}
}

// TestCacheSetTTLRefusesANegativeTTL: a negative TTL is an invalid value,
// from the owner and from another node, and stores nothing; zero is a
// plain Set.
func TestCacheSetTTLRefusesANegativeTTL(t *testing.T) {
	c := cacheCluster(t, 2, notFoundLoader(), nil)
	ctx := ctxT(t)
	owner, other := c.Node(1), c.Node(0)
	key := keysOwnedByStore(other, "users", owner.Name(), 1)[0]
	for _, n := range []*node.Node{owner, other} {
		if err := n.SetTTL(ctx, "users", key, []byte("v"), -time.Second); !errors.Is(err, node.ErrInvalidValue) {
			t.Fatalf("SetTTL with a negative ttl through %s: %v, want ErrInvalidValue", n.Name(), err)
		}
	}
	if _, found, err := owner.Get(ctx, "users", key); err != nil || found {
		t.Fatalf("a refused SetTTL stored a value: %v, %v", found, err)
	}
	if err := other.SetTTL(ctx, "users", key, []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if info, _ := owner.Info("users"); info[0].Keys != 1 {
		t.Fatalf("the owner holds %d entries after SetTTL with no ttl, want 1", info[0].Keys)
	}
}

// TestCacheTTLMovesWithItsPartition: entries set with a TTL keep it when
// a join hands their partition to a new owner, which drops them once it
// has passed.
func TestCacheTTLMovesWithItsPartition(t *testing.T) {
	c := cacheCluster(t, 2, notFoundLoader(), nil)
	ctx := ctxT(t)
	const ttl = 8 * time.Second
	keys := make([]string, 200)
	start := time.Now()
	for i := range keys {
		keys[i] = fmt.Sprintf("session-%d", i)
		if err := c.Node(0).SetTTL(ctx, "users", keys[i], []byte("s"), ttl); err != nil {
			t.Fatal(err)
		}
	}
	c.Add()
	c.WaitConverged()
	n3 := c.Node(2)
	var moved []string
	for _, k := range keys {
		if pl, _ := c.Node(0).Owner("users", k); pl.Owner.Name == n3.Name() {
			moved = append(moved, k)
		}
	}
	if len(moved) == 0 {
		t.Fatal("the join moved no key")
	}
	testcluster.WaitFor(t, ttl-time.Since(start), "the moved entries to reach the new node", func() error {
		if info, _ := n3.Info("users"); info[0].Keys != len(moved) {
			return fmt.Errorf("%s holds %d entries, owns %d of the keys", n3.Name(), info[0].Keys, len(moved))
		}
		return nil
	})
	// Looked up one by one, so that none is dropped by another's read.
	for _, k := range moved {
		waitExpired(t, n3, k, start, ttl, ttl+10*time.Second)
	}
}
