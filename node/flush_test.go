package node_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/sinks"
	"github.com/hoard-dev/hoard/testcluster"
)

// TestFlushReportsUndeliveredBatch: a Flush whose context ends before
// the sink accepted the batch must not report success.
func TestFlushReportsUndeliveredBatch(t *testing.T) {
	mem := sinks.NewMemory()
	c := testcluster.New(t, 1, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		cfg.Stores = []node.StoreConfig{{Name: "pageviews", Kind: node.KindCounter, Sink: mem, Interval: time.Hour, RetryMax: 5, RetryDelay: time.Second}}
	}})
	n := c.Node(0)
	if err := n.Incr(ctxT(t), "pageviews", "k", 1); err != nil {
		t.Fatal(err)
	}
	mem.FailWith(func(sinks.Batch) error { return errors.New("down") })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res, err := n.Flush(ctx, "pageviews")
	mem.FailWith(nil)
	if err == nil && len(mem.Batches()) == 0 {
		t.Fatalf("Flush returned %+v and no error, but the sink has nothing", res)
	}
}
