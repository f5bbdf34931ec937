package node_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/client"
)

// TestClientSendsStraightToOwners: the default client keeps the ring and
// sends each op to its key's owner, so no node forwards anything; a
// forwarding client's ops are mostly forwarded. When an owner dies, the
// ring-aware client falls back and keeps working.
func TestClientSendsStraightToOwners(t *testing.T) {
	c, mem := counterCluster(t, 3, time.Hour)
	ctx := ctxT(t)
	forwarded := func() int64 {
		var total int64
		for _, n := range c.Nodes() {
			total += n.Stats().Forwarded
		}
		return total
	}
	direct := dial(t, c.Node(0).RPCAddr())
	for i := range 300 {
		if err := direct.Incr(ctx, "pageviews", fmt.Sprintf("k%d", i), 1); err != nil {
			t.Fatal(err)
		}
	}
	if f := forwarded(); f != 0 {
		t.Fatalf("a ring-aware client's ops were forwarded %d times", f)
	}
	fwd, err := client.DialConfig(ctx, client.Config{Addrs: []string{c.Node(0).RPCAddr()}, Forward: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fwd.Close()
	for i := range 300 {
		if err := fwd.Incr(ctx, "pageviews", fmt.Sprintf("k%d", i), 1); err != nil {
			t.Fatal(err)
		}
	}
	if f := forwarded(); f < 100 {
		t.Fatalf("a forwarding client's 300 ops over 3 nodes were forwarded only %d times", f)
	}

	// The owner of some keys dies: the ring-aware client falls back to a
	// live node and refreshes its ring.
	c.Kill(2)
	c.WaitConverged()
	for i := range 300 {
		if err := direct.Incr(ctx, "pageviews", fmt.Sprintf("k%d", i), 1); err != nil {
			t.Fatalf("after an owner died: %v", err)
		}
	}
	flushAll(t, c)
	got := mem.Counts("pageviews")
	if len(got) == 0 {
		t.Fatal("nothing flushed")
	}
}
