package cluster_test

import (
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/cluster"
	"github.com/hoard-dev/hoard/testcluster"
)

// TestJoinReachingOnlyItselfKeepsRejoiningFast: a seed name that resolves
// to the node's own address (a DNS name listing every pod, while its peers
// start) reaches only the node itself; that is not a join, so the node
// keeps re-joining at the fast pace and meets a peer that comes up at
// another seed address within seconds, not after RejoinInterval.
func TestJoinReachingOnlyItselfKeepsRejoiningFast(t *testing.T) {
	pa, pb := freePort(t), freePort(t)
	a := startNode(t, "a", func(c *cluster.Config) {
		c.BindAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(pa))
		// "localhost" resolves to a's own address; b is not up yet.
		c.Join = []string{net.JoinHostPort("localhost", strconv.Itoa(pa)), net.JoinHostPort("127.0.0.1", strconv.Itoa(pb))}
		c.RejoinInterval = time.Minute
	})
	// Two rounds that reached a alone: the one after a join is fast anyway.
	missedB := "failed to join " + net.JoinHostPort("127.0.0.1", strconv.Itoa(pb))
	testcluster.WaitFor(t, 10*time.Second, "a to reach itself, and miss b, twice through its seeds", func() error {
		if a.logs.count("re-joined") == 0 || a.logs.count(missedB) < 2 {
			return errors.New("not yet")
		}
		return nil
	})
	// b joins no one: only a's re-join can bring them together.
	b := startNode(t, "b", func(c *cluster.Config) {
		c.BindAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(pb))
	})
	waitAlive(t, []*node{a, b}, "a", "b")
}

// freePort returns a loopback port free for TCP and UDP a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		_ = ln.Close()
		if err == nil {
			_ = pc.Close()
			return port
		}
	}
	t.Fatal("no free port for TCP and UDP")
	return 0
}
