package testcluster

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"

	"github.com/hoard-dev/hoard/node"
)

// Options tunes a test cluster. The zero value is fine.
type Options struct {
	// Configure, when set, adjusts each node's configuration before it
	// starts (i is the node's index). It runs again on Restart.
	Configure func(i int, cfg *node.Config)

	// ConvergeTimeout bounds WaitConverged. Zero means 20s.
	ConvergeTimeout time.Duration

	// LogLevel of the nodes' logs sent to t.Log. Zero means hclog.Info.
	LogLevel hclog.Level
}

// Cluster is a set of real nodes in this process on 127.0.0.1, with short
// gossip timers. Its methods must be called from the test's goroutine: they
// fail the test on error.
type Cluster struct {
	t      testing.TB
	opts   Options
	out    *testWriter
	dir    string
	faults faults

	// mu guards nodes.
	mu    sync.Mutex
	nodes []*node.Node // nil while a node is down
}

// FastGossip returns memberlist timings for tests on loopback: failures are
// detected in about a second and a restarted node reclaims its name quickly.
func FastGossip() *memberlist.Config {
	c := memberlist.DefaultLocalConfig()
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 150 * time.Millisecond
	c.SuspicionMult = 4
	c.GossipInterval = 20 * time.Millisecond
	c.PushPullInterval = time.Second
	c.TCPTimeout = time.Second
	c.GossipToTheDeadTime = 2 * time.Second
	c.DeadNodeReclaimTime = 100 * time.Millisecond
	return c
}

// New starts n nodes named n1..nN, each joining the ones before it, and
// waits until they agree on the ring. The cluster is closed by t.Cleanup.
func New(t testing.TB, n int, opts *Options) *Cluster {
	t.Helper()
	c := &Cluster{t: t, out: &testWriter{t: t}, dir: t.TempDir()}
	if opts != nil {
		c.opts = *opts
	}
	if c.opts.ConvergeTimeout == 0 {
		c.opts.ConvergeTimeout = 20 * time.Second
	}
	if c.opts.LogLevel == hclog.NoLevel {
		c.opts.LogLevel = hclog.Info
	}
	t.Cleanup(c.Close)
	for range n {
		c.Add()
	}
	c.WaitConverged()
	return c
}

// Add starts one more node, joining the live ones, and returns its index.
// It does not wait for convergence.
func (c *Cluster) Add() int {
	c.t.Helper()
	c.mu.Lock()
	i := len(c.nodes)
	c.nodes = append(c.nodes, nil)
	c.mu.Unlock()
	c.start(i)
	return i
}

func (c *Cluster) start(i int) {
	c.t.Helper()
	name := fmt.Sprintf("n%d", i+1)
	gossip := FastGossip()
	ft, err := newFaultTransport("127.0.0.1", &c.faults, gossip)
	if err != nil {
		c.t.Fatalf("testcluster: start %s: %v", name, err)
	}
	gossip.Transport = ft
	cfg := &node.Config{
		Name:           name,
		BindAddr:       "127.0.0.1:0",
		RPCAddr:        "127.0.0.1:0",
		HTTPAddr:       "127.0.0.1:0",
		DataDir:        filepath.Join(c.dir, name),
		Join:           c.gossipAddrs(),
		Gossip:         gossip,
		RejoinInterval: time.Second,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:   name,
			Level:  c.opts.LogLevel,
			Output: c.out,
		}),
	}
	if c.opts.Configure != nil {
		c.opts.Configure(i, cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nd, err := node.Start(ctx, cfg)
	if err != nil {
		_ = ft.Shutdown()
		c.t.Fatalf("testcluster: start %s: %v", name, err)
	}
	c.mu.Lock()
	c.nodes[i] = nd
	c.mu.Unlock()
}

// gossipAddrs lists the gossip addresses of the live nodes.
func (c *Cluster) gossipAddrs() []string {
	var out []string
	for _, n := range c.Nodes() {
		out = append(out, n.GossipAddr())
	}
	return out
}

// Len is the number of node slots, live or down.
func (c *Cluster) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.nodes)
}

// Node returns node i, or nil while it is down.
func (c *Cluster) Node(i int) *node.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// Nodes returns the live nodes.
func (c *Cluster) Nodes() []*node.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*node.Node
	for _, n := range c.nodes {
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}

// RPCAddrs returns the RPC addresses of the live nodes.
func (c *Cluster) RPCAddrs() []string {
	var out []string
	for _, n := range c.Nodes() {
		out = append(out, n.RPCAddr())
	}
	return out
}

// Kill stops node i as a crash would: nothing is flushed and no leave
// message is sent; its peers must detect the failure.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	c.take(i).Kill()
}

// Shutdown stops node i gracefully without leaving: it flushes what it holds
// and stops; its peers detect the failure.
func (c *Cluster) Shutdown(i int) {
	c.t.Helper()
	n := c.take(i)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		c.t.Fatalf("testcluster: shutdown %s: %v", n.Name(), err)
	}
}

// Leave makes node i leave the cluster gracefully.
func (c *Cluster) Leave(i int) {
	c.t.Helper()
	n := c.take(i)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Leave(ctx); err != nil {
		c.t.Fatalf("testcluster: leave %s: %v", n.Name(), err)
	}
}

// Restart starts node i again, after Kill or Leave, under the same name and
// data directory with new ports, joining the live nodes.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if c.Node(i) != nil {
		c.t.Fatalf("testcluster: restart n%d: it is running; Kill or Leave it first", i+1)
	}
	c.start(i)
}

func (c *Cluster) take(i int) *node.Node {
	c.t.Helper()
	c.mu.Lock()
	n := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if n == nil {
		c.t.Fatalf("testcluster: n%d is not running", i+1)
	}
	return n
}

// Partition cuts the gossip between the given groups of node indexes: nodes
// of different groups stop reaching each other, as if the network between
// them failed, and each group goes on as a cluster of its own. Nodes in no
// group keep talking to everyone. Heal undoes it.
func (c *Cluster) Partition(groups ...[]int) {
	c.t.Helper()
	cut := map[[2]string]bool{}
	addr := func(i int) string {
		n := c.Node(i)
		if n == nil {
			c.t.Fatalf("testcluster: partition: n%d is not running", i+1)
		}
		return n.GossipAddr()
	}
	for gi, g := range groups {
		for gj, h := range groups {
			if gi == gj {
				continue
			}
			for _, i := range g {
				for _, j := range h {
					cut[[2]string{addr(i), addr(j)}] = true
				}
			}
		}
	}
	c.faults.set(cut)
}

// Heal ends a Partition. The groups find each other again through their
// periodic re-joins.
func (c *Cluster) Heal() { c.faults.set(nil) }

// WaitRing waits until each of the given nodes has a ring of exactly those
// nodes, and fails the test after Options.ConvergeTimeout.
func (c *Cluster) WaitRing(nodes ...int) {
	c.t.Helper()
	var want []string
	for _, i := range nodes {
		want = append(want, fmt.Sprintf("n%d", i+1))
	}
	slices.Sort(want)
	WaitFor(c.t, c.opts.ConvergeTimeout, fmt.Sprintf("%v to have a ring of exactly themselves", want), func() error {
		var why strings.Builder
		for _, i := range nodes {
			n := c.Node(i)
			var got []string
			if snap := n.Ring(); snap != nil {
				for _, m := range snap.Members() {
					got = append(got, m.Name)
				}
			}
			if !slices.Equal(got, want) {
				fmt.Fprintf(&why, "\n%s: ring has %v, want %v", n.Name(), got, want)
			}
		}
		if why.Len() > 0 {
			return errors.New(why.String())
		}
		return nil
	})
}

// WaitConverged waits until every live node's ring holds exactly the live
// nodes, all rings are the same, and no node is still flushing partitions
// of an earlier ring (Node.HandingOff). It fails the test after
// Options.ConvergeTimeout, describing each node's view.
func (c *Cluster) WaitConverged() {
	c.t.Helper()
	WaitFor(c.t, c.opts.ConvergeTimeout, "the rings to converge", func() error {
		if why := c.divergence(); why != "" {
			return errors.New("\n" + strings.TrimSuffix(why, "\n"))
		}
		return nil
	})
}

// divergence describes how the live nodes' rings disagree, "" when they
// agree.
func (c *Cluster) divergence() string {
	nodes := c.Nodes()
	var want []string
	for _, n := range nodes {
		want = append(want, n.Name())
	}
	slices.Sort(want)
	var b strings.Builder
	var sum uint64
	for i, n := range nodes {
		snap := n.Ring()
		if snap == nil {
			fmt.Fprintf(&b, "%s: no ring\n", n.Name())
			continue
		}
		var got []string
		for _, m := range snap.Members() {
			got = append(got, m.Name)
		}
		if !slices.Equal(got, want) {
			fmt.Fprintf(&b, "%s: ring v%d has %v, want %v\n", n.Name(), snap.Version(), got, want)
		} else if ready, why := n.Ready(); !ready {
			fmt.Fprintf(&b, "%s: not ready: %s\n", n.Name(), why)
		} else if n.HandingOff() {
			fmt.Fprintf(&b, "%s: still flushing partitions of an earlier ring\n", n.Name())
		}
		if i == 0 {
			sum = snap.Checksum()
		} else if snap.Checksum() != sum {
			fmt.Fprintf(&b, "%s: ring checksum %x differs from %s's %x\n", n.Name(), snap.Checksum(), nodes[0].Name(), sum)
		}
	}
	return b.String()
}

// Close shuts every live node down gracefully (each flushes what it holds).
// t.Cleanup calls it; calling it earlier is fine.
func (c *Cluster) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.mu.Lock()
	nodes := c.nodes
	c.nodes = make([]*node.Node, len(nodes))
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range nodes {
		if n == nil {
			continue
		}
		wg.Go(func() {
			if err := n.Shutdown(ctx); err != nil {
				c.t.Errorf("testcluster: shutdown %s: %v", n.Name(), err)
			}
		})
	}
	wg.Wait()
	c.out.close()
}

// testWriter sends logs to t.Log until the cluster is closed: memberlist
// goroutines may still log for a moment after shutdown, and t.Log after a
// test ends panics.
type testWriter struct {
	t testing.TB

	// mu guards closed.
	mu     sync.Mutex
	closed bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}
