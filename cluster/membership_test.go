package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/cluster"
	"github.com/hoard-dev/hoard/testcluster"
)

// A node started under the name of a live member cannot join; the member
// keeps its place and its peers log the refusal at most once.
func TestJoinRefusesATakenName(t *testing.T) {
	n1 := startNode(t, "n1", nil)
	n2 := startNode(t, "n2", nil)
	n2.join(t, n1)
	waitAlive(t, []*node{n1, n2}, "n1", "n2")

	for _, seed := range []*node{n1, n2, n1} {
		dup := startNode(t, "n2", func(c *cluster.Config) { c.Join = []string{seed.GossipAddr()} })
		start := time.Now()
		_, err := dup.Join(context.Background())
		if !errors.Is(err, cluster.ErrNameTaken) {
			t.Fatalf("the second n2 joining through %s: Join = %v, want ErrNameTaken", seed.Name(), err)
		}
		if !strings.Contains(err.Error(), n2.GossipAddr()) {
			t.Errorf("the error %q does not name the member at %s", err, n2.GossipAddr())
		}
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Errorf("Join took %s to fail", elapsed)
		}
		if _, err := dup.Join(context.Background()); !errors.Is(err, cluster.ErrNameTaken) {
			t.Errorf("Join again = %v, want ErrNameTaken", err)
		}
	}
	if err := checkAlive([]*node{n1, n2}, []string{"n1", "n2"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range n1.Members() {
		if m.Name == "n2" && m.GossipAddr != n2.GossipAddr() {
			t.Errorf("n1 has n2 at %s, want %s", m.GossipAddr, n2.GossipAddr())
		}
	}
	if got := n1.logs.count("refusing node: member=n2 "); got > 1 {
		t.Errorf("n1 logged the refusal of n2 %d times, want at most once", got)
	}
}

// A node restarted under its name on another address is not a duplicate:
// its earlier incarnation does not answer, and the node gets back in.
func TestRestartOnAnotherAddressRejoins(t *testing.T) {
	n1 := startNode(t, "n1", nil)
	n2 := startNode(t, "n2", nil)
	n2.join(t, n1)
	waitAlive(t, []*node{n1, n2}, "n1", "n2")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n2.Shutdown(ctx); err != nil { // a crash: peers are not told
		t.Fatal(err)
	}

	n2 = startNode(t, "n2", nil)
	n2.join(t, n1)
	testcluster.WaitFor(t, 20*time.Second, "n1 to see n2 at its new address", func() error {
		for _, m := range n1.Members() {
			if m.Name == "n2" && m.Status == cluster.StatusAlive && m.GossipAddr == n2.GossipAddr() {
				return nil
			}
		}
		return errors.New("not yet")
	})
}

// The last two nodes leaving at once each return as soon as they have told
// the other, not after the leave timeout.
func TestLastTwoNodesLeaveAtOnce(t *testing.T) {
	n1 := startNode(t, "n1", nil)
	n2 := startNode(t, "n2", nil)
	n2.join(t, n1)
	waitAlive(t, []*node{n1, n2}, "n1", "n2")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	took := make([]time.Duration, 2)
	for i, n := range []*node{n1, n2} {
		wg.Go(func() {
			start := time.Now()
			errs[i] = n.Leave(ctx)
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("n%d: Leave = %v", i+1, err)
		}
		if took[i] > 5*time.Second {
			t.Errorf("n%d: Leave took %s", i+1, took[i])
		}
		t.Logf("n%d left in %s", i+1, took[i])
	}
}

// A node announcing its leave while its peers leave at once does not wait
// out its deadline for an update that nobody is left to receive: once its
// ring holds no peer, SetLeaving returns. n3's update here needs so many
// retransmissions that it cannot go out before the others are gone.
func TestLeavingAsThePeersLeaveAtOnce(t *testing.T) {
	n1 := startNode(t, "n1", nil)
	n2 := startNode(t, "n2", nil)
	n3 := startNode(t, "n3", func(c *cluster.Config) {
		c.Memberlist = testcluster.FastGossip()
		c.Memberlist.RetransmitMult = 1 << 20
	})
	n2.join(t, n1)
	n3.join(t, n1)
	waitAlive(t, []*node{n1, n2, n3}, "n1", "n2", "n3")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	announced := make(chan error, 1)
	go func() { announced <- n3.SetLeaving(ctx) }()
	var wg sync.WaitGroup
	for _, n := range []*node{n1, n2} {
		wg.Go(func() {
			if err := n.Leave(ctx); err != nil {
				t.Errorf("%s: Leave = %v", n.Name(), err)
			}
		})
	}
	wg.Wait()
	if err := <-announced; err != nil {
		t.Fatalf("n3: SetLeaving = %v after %s, want nil once no peer is left", err, time.Since(start).Round(time.Millisecond))
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("n3: SetLeaving took %s, want it to end once its peers left", took.Round(time.Millisecond))
	}
}

// Two live nodes that share a name, met after each joined its own cluster
// (two clusters brought together), keep their places and say so rarely: the
// re-joining one logs the conflict once, and memberlist's conflict lines
// are not repeated on every gossip either.
func TestNameConflictAfterJoinIsLoggedOnce(t *testing.T) {
	n1 := startNode(t, "n1", nil)
	n2 := startNode(t, "n2", nil)
	n2.join(t, n1)
	n3 := startNode(t, "n3", nil)
	dup := startNode(t, "n2", func(c *cluster.Config) {
		c.Join = []string{n3.GossipAddr(), n1.GossipAddr()}
		c.RejoinInterval = 50 * time.Millisecond
	})
	dup.join(t, n3)
	waitAlive(t, []*node{n1, n2}, "n1", "n2")

	// The duplicate keeps re-joining n1 in the background.
	attempts := "Initiating push/pull sync with:  " + n1.GossipAddr()
	testcluster.WaitFor(t, 20*time.Second, "the duplicate to re-join n1 five times", func() error {
		if got := dup.logs.count(attempts); got < 5 {
			return fmt.Errorf("%d attempts", got)
		}
		return nil
	})
	if got := dup.logs.count("another live node uses this node's name"); got != 1 {
		t.Errorf("the duplicate logged the conflict %d times, want once", got)
	}
	for _, n := range []*node{n1, n2, n3, dup} {
		if got := n.logs.count("Conflicting address for n2"); got > 1 {
			t.Errorf("%s logged memberlist's conflict %d times, want at most once", n.Name(), got)
		}
	}
	for _, m := range n1.Members() {
		if m.Name == "n2" && m.GossipAddr != n2.GossipAddr() {
			t.Errorf("n1 has n2 at %s, want %s", m.GossipAddr, n2.GossipAddr())
		}
	}
}

// A member's Learned marks when its current incarnation (its origin) was
// first heard of: a restart under a new origin moves it, a metadata update
// of the same incarnation (here its leaving state) does not.
func TestLearnedMarksANewIncarnation(t *testing.T) {
	n1 := startNode(t, "n1", nil)
	n2 := startNode(t, "n2", func(c *cluster.Config) { c.Origin = "n2.1.aa" })
	n2.join(t, n1)
	waitAlive(t, []*node{n1, n2}, "n1", "n2")
	first := memberOf(t, n1, "n2")
	if first.Origin != "n2.1.aa" || first.Learned.IsZero() {
		t.Fatalf("n1 has n2 as %+v, want origin n2.1.aa with the time it learned it", first)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n2.Shutdown(ctx); err != nil { // a crash: peers are not told
		t.Fatal(err)
	}
	restarted := time.Now()
	n2 = startNode(t, "n2", func(c *cluster.Config) { c.Origin = "n2.2.bb" })
	n2.join(t, n1)
	testcluster.WaitFor(t, 20*time.Second, "n1 to hear of n2's new incarnation", func() error {
		if m := memberOf(t, n1, "n2"); m.Origin != "n2.2.bb" {
			return fmt.Errorf("n1 has n2 under origin %s", m.Origin)
		}
		return nil
	})
	second := memberOf(t, n1, "n2")
	if second.Learned.Before(restarted) {
		t.Fatalf("n2's new incarnation learned at %v, before its restart at %v", second.Learned, restarted)
	}
	leaveCtx, stopLeaving := context.WithCancel(ctx)
	left := make(chan struct{})
	go func() {
		defer close(left)
		_ = n2.SetLeaving(leaveCtx)
	}()
	defer func() { stopLeaving(); <-left }()
	testcluster.WaitFor(t, 20*time.Second, "n1 to see n2 leaving", func() error {
		if m := memberOf(t, n1, "n2"); m.State != cluster.StateLeaving {
			return fmt.Errorf("n1 has n2 %s", m.State)
		}
		return nil
	})
	if m := memberOf(t, n1, "n2"); !m.Learned.Equal(second.Learned) {
		t.Fatalf("n2's leaving update moved Learned from %v to %v", second.Learned, m.Learned)
	}
}

// memberOf returns the member name as n sees it, failing t if n has none.
func memberOf(t *testing.T, n *node, name string) cluster.Member {
	t.Helper()
	for _, m := range n.Members() {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("%s has no member %s", n.Name(), name)
	return cluster.Member{}
}
