package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/client"
	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/sinks"
	"github.com/hoard-dev/hoard/testcluster"
)

// BenchmarkAckLevels measures increments through one ring-aware client by
// 256 concurrent callers into a 3-node cluster, side by side in one run for
// each acknowledgement level: "memory", "wal" (write-ahead log fsynced every
// 100ms, the default) and "wal-always" (fsynced before each
// acknowledgement; concurrent writes share an fsync), "replicated" (the
// default: the owner's log and one backup's, fsynced every 100ms) and
// "replicated-always". The ops/s ratios against "memory" are what the
// README quotes.
func BenchmarkAckLevels(b *testing.B) {
	for _, tc := range []struct {
		name string
		ack  node.Ack
		sync time.Duration
	}{
		{"memory", node.AckMemory, 0},
		{"wal", node.AckWAL, 0},
		{"wal-always", node.AckWAL, node.WALSyncAlways},
		{"replicated", node.AckReplicated, 0},
		{"replicated-always", node.AckReplicated, node.WALSyncAlways},
	} {
		b.Run(tc.name, func(b *testing.B) {
			discard := sinks.SinkFunc(func(context.Context, sinks.Batch) error { return nil })
			c := testcluster.New(b, 3, &testcluster.Options{
				LogLevel: hclog.Error,
				Configure: func(i int, cfg *node.Config) {
					cfg.WALSync = tc.sync
					cfg.Stores = []node.StoreConfig{{Name: "pageviews", Kind: node.KindCounter, Sink: discard, Interval: time.Second, Ack: tc.ack}}
				},
			})
			keys := keysOwnedBy(c.Node(0), "", 1024)
			cl, err := client.Dial(context.Background(), c.RPCAddrs()...)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			runConcurrent(b, 256, func(i int) error {
				return cl.Incr(context.Background(), "pageviews", keys[i&1023], 1)
			})
		})
	}
}
