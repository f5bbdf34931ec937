package node_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/cluster"
	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/ring"
	"github.com/hoard-dev/hoard/sinks"
	"github.com/hoard-dev/hoard/testcluster"
)

// assertSameOwners checks that every live node places 10,000 keys on the
// same owner, and that the owner is a live node. A disagreement while some
// node's ring changed (a false failure detection on a loaded machine) is
// retried after the cluster converges again; one between unchanged rings
// fails the test.
func assertSameOwners(t *testing.T, c *testcluster.Cluster) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		c.WaitConverged()
		before := ringVersions(c)
		err := sameOwners(c)
		if err == nil {
			return
		}
		if slices.Equal(before, ringVersions(c)) || attempt == 3 {
			t.Fatal(err)
		}
		t.Logf("rings changed during the check, retrying: %v", err)
	}
}

func ringVersions(c *testcluster.Cluster) []uint64 {
	var out []uint64
	for _, n := range c.Nodes() {
		out = append(out, n.Ring().Version())
	}
	return out
}

func sameOwners(c *testcluster.Cluster) error {
	nodes := c.Nodes()
	live := map[string]bool{}
	for _, n := range nodes {
		live[n.Name()] = true
	}
	for k := range 10000 {
		key := fmt.Sprintf("key-%d", k)
		var first node.Placement
		for i, n := range nodes {
			pl, err := n.Owner("pageviews", key)
			if err != nil {
				return fmt.Errorf("%s: owner of %q: %w", n.Name(), key, err)
			}
			if !live[pl.Owner.Name] {
				return fmt.Errorf("%s: owner of %q is %s, which is not live", n.Name(), key, pl.Owner.Name)
			}
			if i == 0 {
				first = pl
				continue
			}
			if pl.Owner != first.Owner || pl.Partition != first.Partition || !slices.Equal(pl.Backups, first.Backups) {
				return fmt.Errorf("%q: %s says %+v, %s says %+v", key, nodes[0].Name(), first, n.Name(), pl)
			}
		}
	}
	return nil
}

func TestClusterConverges(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprintf("nodes=%d", size), func(t *testing.T) {
			c := testcluster.New(t, size, nil)
			assertSameOwners(t, c)
			for _, n := range c.Nodes() {
				snap := n.Ring()
				if got := len(snap.Members()); got != size {
					t.Fatalf("%s: ring has %d members, want %d", n.Name(), got, size)
				}
				total := 0
				for _, l := range snap.Load() {
					total += l
				}
				if total != snap.Partitions() {
					t.Fatalf("%s: members own %d partitions, want %d", n.Name(), total, snap.Partitions())
				}
				if ok, why := n.Ready(); !ok {
					t.Fatalf("%s: not ready: %s", n.Name(), why)
				}
			}
		})
	}
}

func TestKillIsDetectedAndPartitionsMove(t *testing.T) {
	c := testcluster.New(t, 3, nil)
	before := c.Node(0).Ring()
	victim := c.Node(2).Name()
	lost := before.PartitionsOf(victim)
	if len(lost) == 0 {
		t.Fatalf("%s owns no partition", victim)
	}

	c.Kill(2)
	c.WaitConverged()

	for _, n := range c.Nodes() {
		var st cluster.Status
		for _, m := range n.Members() {
			if m.Name == victim {
				st = m.Status
			}
		}
		if st != cluster.StatusFailed {
			t.Errorf("%s sees %s as %q, want %q", n.Name(), victim, st, cluster.StatusFailed)
		}
		after := n.Ring()
		if after.Version() <= before.Version() {
			t.Errorf("%s: ring version %d did not advance past %d", n.Name(), after.Version(), before.Version())
		}
		moved := map[int]bool{}
		for _, mv := range ring.Diff(before, after) {
			moved[mv.Partition] = true
		}
		for _, p := range lost {
			if !moved[p] {
				t.Fatalf("%s: partition %d of %s was not reassigned", n.Name(), p, victim)
			}
			if owner := after.Owner(p).Name; owner == victim {
				t.Fatalf("%s: partition %d still owned by %s", n.Name(), p, victim)
			}
		}
	}
	assertSameOwners(t, c)
}

func TestRestartRejoinsUnderSameName(t *testing.T) {
	for _, stop := range []string{"kill", "leave"} {
		t.Run(stop, func(t *testing.T) {
			c := testcluster.New(t, 3, nil)
			oldRPC := c.Node(1).RPCAddr()
			if stop == "kill" {
				c.Kill(1)
			} else {
				c.Leave(1)
			}
			c.WaitConverged()
			c.Restart(1)
			c.WaitConverged()
			n := c.Node(1)
			if n.RPCAddr() == oldRPC {
				t.Fatalf("restarted node kept its RPC address %s; want a new port", oldRPC)
			}
			for _, other := range c.Nodes() {
				m, ok := other.Ring().Member("n2")
				if !ok || m.Addr != n.RPCAddr() {
					t.Fatalf("%s: ring has n2 at %q (present %v), want %s", other.Name(), m.Addr, ok, n.RPCAddr())
				}
			}
			assertSameOwners(t, c)
		})
	}
}

// TestLeaveIsGraceful: every peer records a node that left gracefully as
// left, not failed. The rings agree as soon as the peers see it leaving;
// that it has left reaches a peer a little later when it comes through
// another (the leaving node's own last gossip may miss one as it closes), so
// the test waits for it.
func TestLeaveIsGraceful(t *testing.T) {
	c := testcluster.New(t, 3, nil)
	c.Leave(2)
	c.WaitConverged()
	testcluster.WaitFor(t, 10*time.Second, "every peer to see n3 as left", func() error {
		for _, n := range c.Nodes() {
			for _, m := range n.Members() {
				if m.Name == "n3" && m.Status != cluster.StatusLeft {
					return fmt.Errorf("%s sees n3 as %q, want %q", n.Name(), m.Status, cluster.StatusLeft)
				}
			}
		}
		return nil
	})
}

func TestMismatchedRingIsRefused(t *testing.T) {
	c := testcluster.New(t, 3, nil)
	cfg := &node.Config{
		Name:     "odd",
		BindAddr: "127.0.0.1:0",
		RPCAddr:  "127.0.0.1:0",
		DataDir:  t.TempDir(),
		Join:     []string{c.Node(0).GossipAddr()},
		Gossip:   testcluster.FastGossip(),
		Ring:     ring.DefaultConfig(),
	}
	cfg.Ring.Partitions = 271
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The odd node refuses the members as they refuse it: its start fails
	// with the reason rather than running alone and retrying for ever.
	odd, err := node.Start(ctx, cfg)
	if err == nil {
		_ = odd.Shutdown(context.Background())
		t.Fatal("a node with another partition count started")
	}
	if !errors.Is(err, cluster.ErrRefused) || !strings.Contains(err.Error(), "ring fingerprint") {
		t.Fatalf("start = %v, want cluster.ErrRefused naming the ring fingerprint", err)
	}
	for _, n := range c.Nodes() {
		for _, m := range n.Members() {
			if m.Name == "odd" {
				t.Fatalf("%s admitted a node with another partition count", n.Name())
			}
		}
	}
}

func TestOwnerRejectsBadKeys(t *testing.T) {
	c := testcluster.New(t, 1, nil)
	n := c.Node(0)
	for _, tc := range []struct{ name, store, key string }{
		{"empty key", "s", ""},
		{"empty store", "", "k"},
		{"oversized key", "s", strings.Repeat("k", node.MaxKeyBytes+1)},
		{"invalid utf8", "s", "\xff\xfe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := n.Owner(tc.store, tc.key); err == nil {
				t.Fatal("no error")
			}
		})
	}
	if _, err := n.Owner("s", strings.Repeat("k", node.MaxKeyBytes)); err != nil {
		t.Fatalf("a key of exactly %d bytes: %v", node.MaxKeyBytes, err)
	}
}

func TestPartitionHeals(t *testing.T) {
	c := testcluster.New(t, 4, nil)
	c.Partition([]int{0, 1}, []int{2, 3})
	// Each side declares the other failed and goes on with a ring of two.
	c.WaitRing(0, 1)
	c.WaitRing(2, 3)
	c.Heal()
	c.WaitConverged()
	assertSameOwners(t, c)
}

func TestStoreMismatchIsVisible(t *testing.T) {
	mem := sinks.NewMemory()
	c := testcluster.New(t, 3, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		cfg.Stores = []node.StoreConfig{{Name: "pageviews", Kind: node.KindCounter, Sink: mem}}
		if i == 2 {
			cfg.Stores = append(cfg.Stores, node.StoreConfig{Name: "extra", Kind: node.KindBuffer, Sink: mem})
		}
	}})
	digest := map[string]string{}
	for _, m := range c.Node(0).Members() {
		digest[m.Name] = m.Stores
	}
	if digest["n1"] != digest["n2"] || digest["n1"] == digest["n3"] || digest["n1"] == "" {
		t.Fatalf("store digests %v: n1 and n2 declare the same stores, n3 one more", digest)
	}
}

// TestLaggingRingNeverBouncesOps delays one node's view of a join: its
// ring lags seconds behind its peers', so it forwards ops to their old
// owner, which refuses them as not the owner. The op is never forwarded
// again (hop limit 1): the lagging node backs off and routes it again until
// its ring catches up, and every op is applied exactly once.
func TestLaggingRingNeverBouncesOps(t *testing.T) {
	mem := sinks.NewMemory()
	c := testcluster.New(t, 3, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		cfg.Stores = []node.StoreConfig{{Name: "pv", Kind: node.KindCounter, Sink: mem, Interval: time.Hour}}
		if i == 0 {
			cfg.RingDebounce = 2 * time.Second // n1's ring lags behind
		}
	}})
	lagging := c.Node(0)
	// n4 joins: the others see it at once, n1 only 2s later. On a loaded
	// machine the test may notice too late, when n1 has caught up already;
	// then n4 leaves and joins again, a bounded number of times.
	const attempts = 3
	var before *ring.Snapshot
	for attempt := 1; ; attempt++ {
		before = lagging.Ring()
		if attempt == 1 {
			c.Add()
		} else {
			c.Restart(3)
		}
		testcluster.WaitFor(t, 10*time.Second, "n2 to see n4", func() error {
			if got := len(c.Node(1).Ring().Members()); got != 4 {
				return fmt.Errorf("n2's ring has %d members", got)
			}
			return nil
		})
		if lagging.Ring().Checksum() == before.Checksum() {
			break
		}
		if attempt == attempts {
			testcluster.SkipOrFailInCI(t, "n1's ring caught up before the test could use the lag, %d times", attempts)
		}
		t.Logf("n1's ring caught up before the test could use the lag; n4 joins again")
		c.Leave(3)
		c.WaitConverged()
	}
	// Keys n1 still places on n2 or n3 that now belong to n4.
	now := c.Node(1).Ring()
	var moved []string
	for i := 0; len(moved) < 20 && i < 100000; i++ {
		k := fmt.Sprintf("k%d", i)
		_, old := before.Locate("pv", k)
		_, cur := now.Locate("pv", k)
		if old.Name != lagging.Name() && cur.Name == "n4" {
			moved = append(moved, k)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, k := range moved {
		if err := lagging.Incr(ctx, "pv", k, 1); err != nil {
			t.Fatalf("incr %s through the lagging node: %v", k, err)
		}
	}
	c.WaitConverged()
	if lagging.Stats().Rerouted == 0 {
		t.Fatal("no op was refused as not the owner: the lag was not exercised")
	}
	for _, n := range c.Nodes()[1:] {
		if f := n.Stats().Forwarded; f != 0 {
			t.Fatalf("%s forwarded %d ops: an op bounced", n.Name(), f)
		}
	}
	flushAll(t, c)
	got := mem.Counts("pv")
	for _, k := range moved {
		if got[k] != 1 {
			t.Fatalf("%s applied %d times, want once", k, got[k])
		}
	}
	t.Logf("%d ops through a node whose ring lagged: %d refusals as not the owner, no bounce", len(moved), lagging.Stats().Rerouted)
}
