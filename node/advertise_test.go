package node_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/sinks"
)

// TestWildcardBindAdvertisesGossipHost: a node whose RPC and HTTP listen on
// every interface (0.0.0.0, as in a container or pod) advertises them at
// its gossip advertise host, which peers can dial, never at 0.0.0.0.
func TestWildcardBindAdvertisesGossipHost(t *testing.T) {
	// A free gossip port to advertise: memberlist binds it on 127.0.0.1.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	gossip := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := node.Start(ctx, &node.Config{
		Name:          "wild",
		BindAddr:      gossip,
		AdvertiseAddr: gossip,
		RPCAddr:       "0.0.0.0:0",
		HTTPAddr:      "0.0.0.0:0",
		DataDir:       t.TempDir(),
		Stores:        []node.StoreConfig{{Name: "pageviews", Kind: node.KindCounter, Sink: sinks.NewMemory()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown(context.Background()) })

	for _, a := range []struct{ name, addr string }{{"rpc", n.RPCAddr()}, {"http", n.HTTPAddr()}} {
		host, _, err := net.SplitHostPort(a.addr)
		if err != nil || host != "127.0.0.1" {
			t.Errorf("%s advertised at %q, want the gossip host 127.0.0.1", a.name, a.addr)
		}
	}
	var seen bool
	for _, m := range n.Members() {
		if m.Name == "wild" {
			seen = true
			if m.RPCAddr != n.RPCAddr() {
				t.Errorf("member list says rpc %q, node says %q", m.RPCAddr, n.RPCAddr())
			}
		}
	}
	if !seen {
		t.Fatal("the node is not in its own member list")
	}
	// The advertised address answers.
	c, err := net.DialTimeout("tcp", n.RPCAddr(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial the advertised rpc address: %v", err)
	}
	_ = c.Close()
}
