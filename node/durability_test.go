package node_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/sinks"
	"github.com/hoard-dev/hoard/testcluster"
)

// walCluster starts one node with a counter and a buffer store that
// acknowledge by the write-ahead log and flush only when asked (1h).
func walCluster(t *testing.T, mem *sinks.Memory, sync time.Duration) *testcluster.Cluster {
	t.Helper()
	return testcluster.New(t, 1, &testcluster.Options{
		Configure: func(i int, cfg *node.Config) {
			cfg.WALSync = sync
			cfg.Stores = []node.StoreConfig{
				{Name: "pv", Kind: node.KindCounter, Sink: mem, Interval: time.Hour, Ack: node.AckWAL},
				{Name: "ev", Kind: node.KindBuffer, Sink: mem, Interval: time.Hour, Ack: node.AckWAL},
			}
		},
	})
}

// sums adds up what mem received: counts per key and values per key, and
// the origins of the batches.
func sums(mem *sinks.Memory) (map[string]int64, map[string][]string, map[string]bool) {
	counts, values, origins := map[string]int64{}, map[string][]string{}, map[string]bool{}
	for _, b := range mem.Batches() {
		origins[b.Origin] = true
		for _, c := range b.Counts {
			counts[c.Key] += c.Count
		}
		for _, v := range b.Values {
			for _, x := range v.Values {
				values[v.Key] = append(values[v.Key], string(x))
			}
		}
	}
	return counts, values, origins
}

// TestRestartReplaysWhatACrashLeftInTheLog: writes acknowledged by the log
// and never flushed survive a crash (Kill: nothing flushed) and reach the
// sink from the restarted node, under the origin that logged them, buffer
// values in their order.
func TestRestartReplaysWhatACrashLeftInTheLog(t *testing.T) {
	for _, tc := range []struct {
		name string
		sync time.Duration
	}{{"fsync every 100ms", 0}, {"fsync always", node.WALSyncAlways}} {
		t.Run(tc.name, func(t *testing.T) {
			mem := sinks.NewMemory()
			c := walCluster(t, mem, tc.sync)
			n := c.Node(0)
			ctx := context.Background()
			for i := range 1000 {
				if err := n.Incr(ctx, "pv", fmt.Sprintf("k%d", i%10), 1); err != nil {
					t.Fatal(err)
				}
				if err := n.Insert(ctx, "ev", "k", []byte(fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
			}
			if st := n.Stats(); st.Unflushed != 2000 || st.WALBytes == 0 {
				t.Fatalf("before the crash: %d unflushed, WAL %d bytes", st.Unflushed, st.WALBytes)
			}
			c.Kill(0)
			if got := len(mem.Batches()); got != 0 {
				t.Fatalf("a crash flushed %d batches", got)
			}
			c.Restart(0)
			counts, values, origins := sums(mem)
			for i := range 10 {
				if k := fmt.Sprintf("k%d", i); counts[k] != 100 {
					t.Errorf("%s: %d replayed, want 100", k, counts[k])
				}
			}
			if len(values["k"]) != 1000 {
				t.Fatalf("%d values replayed, want 1000", len(values["k"]))
			}
			for i, v := range values["k"] {
				if v != fmt.Sprint(i) {
					t.Fatalf("value %d is %s: order lost", i, v)
				}
			}
			if len(origins) != 1 || origins[""] {
				t.Fatalf("replayed under origins %v, want the crashed incarnation's", origins)
			}
			if st := c.Node(0).Stats(); st.Unflushed != 0 {
				t.Fatalf("after the replay the node holds %d unflushed", st.Unflushed)
			}
		})
	}
}

// TestGracefulStopLeavesNothingToReplay: a node that flushed everything
// when it stopped removes its log, so its next start sends nothing again
// (a sink without positions would count it twice).
func TestGracefulStopLeavesNothingToReplay(t *testing.T) {
	mem := sinks.NewMemory()
	c := walCluster(t, mem, 0)
	n := c.Node(0)
	for range 100 {
		if err := n.Incr(context.Background(), "pv", "k", 1); err != nil {
			t.Fatal(err)
		}
	}
	c.Shutdown(0)
	if counts, _, _ := sums(mem); counts["k"] != 100 {
		t.Fatalf("the final flush delivered %d, want 100", counts["k"])
	}
	c.Restart(0)
	if counts, _, _ := sums(mem); counts["k"] != 100 {
		t.Fatalf("after a graceful stop and a restart the sink holds %d, want 100", counts["k"])
	}
}

// TestFlushedSegmentsAreRemoved: the log stays bounded by what is not
// flushed yet: once the sink has a segment's ops, the segment goes.
func TestFlushedSegmentsAreRemoved(t *testing.T) {
	mem := sinks.NewMemory()
	c := walCluster(t, mem, 0)
	n := c.Node(0)
	big := make([]byte, 64<<10)
	for range 450 { // ~29 MiB: a sealed 16 MiB segment and the active one; under half of max_bytes, so no early flush
		if err := n.Insert(context.Background(), "ev", "k", big); err != nil {
			t.Fatal(err)
		}
	}
	before := n.Stats().WALBytes
	if _, err := n.Flush(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	after := n.Stats().WALBytes
	if before < 25<<20 || after > before-15<<20 {
		t.Fatalf("WAL %d bytes before the flush, %d after: sealed segments not removed", before, after)
	}
}
