package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/cluster"
	"github.com/hoard-dev/hoard/ring"
	"github.com/hoard-dev/hoard/testcluster"
)

// logSink sends a node's logs to t.Log until the test ends (memberlist may
// log for a moment after Shutdown, and t.Log after a test panics) and keeps
// them so that a test can count lines.
type logSink struct {
	t testing.TB

	// mu guards lines and closed.
	mu     sync.Mutex
	lines  []string
	closed bool
}

func newLogSink(t testing.TB) *logSink {
	s := &logSink{t: t}
	t.Cleanup(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
	})
	return s
}

func (s *logSink) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, line)
	if !s.closed {
		s.t.Log(line)
	}
	return len(p), nil
}

// count returns how many lines logged so far contain sub.
func (s *logSink) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.lines {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

// node is a cluster member under test with its logs.
type node struct {
	*cluster.Cluster
	logs *logSink
}

// startNode starts a cluster node named name on a free loopback port, with
// fast gossip timings; edit adjusts its Config. The node is shut down when
// the test ends. It does not join: call Join.
func startNode(t *testing.T, name string, edit func(*cluster.Config)) *node {
	t.Helper()
	n, err := tryStartNode(t, name, edit)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return n
}

func tryStartNode(t *testing.T, name string, edit func(*cluster.Config)) (*node, error) {
	t.Helper()
	logs := newLogSink(t)
	cfg := cluster.Config{
		Name:       name,
		BindAddr:   "127.0.0.1:0",
		RPCAddr:    "127.0.0.1:1", // advertised only
		Ring:       ring.DefaultConfig(),
		Debounce:   10 * time.Millisecond,
		Memberlist: testcluster.FastGossip(),
		Logger: hclog.New(&hclog.LoggerOptions{
			Name: name, Level: hclog.Debug, Output: logs,
		}),
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := cluster.New(cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Shutdown(ctx); err != nil {
			t.Errorf("shutdown %s: %v", name, err)
		}
	})
	return &node{Cluster: c, logs: logs}, nil
}

// join makes n join the seeds and fails the test if it cannot.
func (n *node) join(t *testing.T, seeds ...*node) {
	t.Helper()
	var addrs []string
	for _, s := range seeds {
		addrs = append(addrs, s.GossipAddr())
	}
	if _, err := n.Join(context.Background(), addrs...); err != nil {
		t.Fatalf("%s joins %v: %v", n.Name(), addrs, err)
	}
}

// aliveNames lists the members n sees alive.
func (n *node) aliveNames() []string {
	var names []string
	for _, m := range n.Members() {
		if m.Status == cluster.StatusAlive {
			names = append(names, m.Name)
		}
	}
	return names
}

// waitAlive waits until each node sees exactly the names alive.
func waitAlive(t *testing.T, nodes []*node, names ...string) {
	t.Helper()
	slices.Sort(names)
	testcluster.WaitFor(t, 10*time.Second, fmt.Sprintf("every node to see %v alive", names), func() error {
		return checkAlive(nodes, names)
	})
}

func checkAlive(nodes []*node, names []string) error {
	for _, n := range nodes {
		if got := n.aliveNames(); !slices.Equal(got, names) {
			return fmt.Errorf("%s sees %v alive", n.Name(), got)
		}
	}
	return nil
}

// key returns a 32-byte gossip key made of b.
func key(b byte) []byte { return []byte(strings.Repeat(string(rune(b)), 32)) }
