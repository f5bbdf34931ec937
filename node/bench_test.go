package node_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/client"
	"github.com/hoard-dev/hoard/loaders"
	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/sinks"
	"github.com/hoard-dev/hoard/testcluster"
)

// benchCluster starts n nodes with a counter store whose sink discards, and
// quiet logs.
func benchCluster(b *testing.B, n int) *testcluster.Cluster {
	b.Helper()
	discard := sinks.SinkFunc(func(context.Context, sinks.Batch) error { return nil })
	return testcluster.New(b, n, &testcluster.Options{
		LogLevel: hclog.Error,
		Configure: func(i int, cfg *node.Config) {
			cfg.Stores = []node.StoreConfig{
				// Acknowledged in memory: the figures of the README's table;
				// BenchmarkAckLevels measures the other levels.
				{Name: "pageviews", Kind: node.KindCounter, Sink: discard, Interval: time.Second, Ack: node.AckMemory},
				{Name: "events", Kind: node.KindBuffer, Sink: discard, Interval: time.Second, MaxBytes: -1, Ack: node.AckMemory},
				{Name: "users", Kind: node.KindCache, Loader: loaders.LoaderFunc(func(_ context.Context, key string) (loaders.Result, error) {
					return loaders.Result{Value: []byte("value of " + key)}, nil
				})},
			}
		},
	})
}

// keysOwnedBy returns count keys whose owner is the named node, or, with
// owner "", keys spread over every node.
func keysOwnedBy(n *node.Node, owner string, count int) []string {
	snap := n.Ring()
	var keys []string
	for i := 0; len(keys) < count; i++ {
		k := fmt.Sprintf("/page/%d", i)
		if _, o := snap.Locate("pageviews", k); owner == "" || o.Name == owner {
			keys = append(keys, k)
		}
	}
	return keys
}

// BenchmarkIncrLocal measures increments applied at their owner through
// Node.Incr, from parallel goroutines.
func BenchmarkIncrLocal(b *testing.B) {
	c := benchCluster(b, 1)
	n := c.Node(0)
	keys := keysOwnedBy(n, "", 1024)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if err := n.Incr(ctx, "pageviews", keys[i&1023], 1); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "incr/s")
}

// BenchmarkClientIncr measures increments sent through one client connection
// by 256 concurrent callers to one node of a 3-node cluster: "owner" sends
// only keys that node owns, "forwarded" spreads keys over all three, so two
// thirds are forwarded to their owner.
func BenchmarkClientIncr(b *testing.B) {
	c := benchCluster(b, 3)
	entry := c.Node(0)
	for _, tc := range []struct{ name, owner string }{{"owner", entry.Name()}, {"forwarded", ""}} {
		b.Run(tc.name, func(b *testing.B) {
			keys := keysOwnedBy(entry, tc.owner, 1024)
			cl := forwardingClient(b, entry.RPCAddr())
			runConcurrent(b, 256, func(i int) error {
				return cl.Incr(context.Background(), "pageviews", keys[i&1023], 1)
			})
		})
	}
	// The default, ring-aware client: every op straight to its owner, one
	// connection per node.
	b.Run("direct", func(b *testing.B) {
		keys := keysOwnedBy(entry, "", 1024)
		cl, err := client.Dial(context.Background(), entry.RPCAddr())
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		runConcurrent(b, 256, func(i int) error {
			return cl.Incr(context.Background(), "pageviews", keys[i&1023], 1)
		})
	})
}

// BenchmarkClientIncrAsync measures fire-and-forget increments through one
// client connection: the receiving node aggregates them and sends sums to
// the owners.
func BenchmarkClientIncrAsync(b *testing.B) {
	c := benchCluster(b, 3)
	entry := c.Node(0)
	keys := keysOwnedBy(entry, "", 1024)
	cl := forwardingClient(b, entry.RPCAddr())
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if err := cl.IncrAsync(ctx, "pageviews", keys[i&1023], 1); err != nil {
			b.Fatal(err)
		}
	}
	// The node answers requests of one connection in order: once Status
	// returns, every increment before it was received and aggregated.
	if _, err := cl.Status(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "incr/s")
	if n, err := cl.AsyncFailures(); n > 0 {
		b.Fatalf("%d async failures: %v", n, err)
	}
}

// runConcurrent runs b.N calls of f spread over workers goroutines and
// reports ops/s.
func runConcurrent(b *testing.B, workers int, f func(i int) error) {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < b.N; i += workers {
				if err := f(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}

var valueSizes = []struct {
	name string
	size int
}{{"16B", 16}, {"1KiB", 1024}}

// BenchmarkInsertLocal measures inserts applied at their owner through
// Node.Insert, from parallel goroutines.
func BenchmarkInsertLocal(b *testing.B) {
	c := benchCluster(b, 1)
	n := c.Node(0)
	keys := keysOwnedBy(n, "", 1024)
	ctx := context.Background()
	for _, vs := range valueSizes {
		b.Run(vs.name, func(b *testing.B) {
			value := make([]byte, vs.size)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if err := n.Insert(ctx, "events", keys[i&1023], value); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "insert/s")
		})
	}
}

// BenchmarkClientInsert measures inserts of one value each through one
// client connection by 256 concurrent callers to one node of a 3-node
// cluster, keys spread over all three: two thirds are forwarded.
func BenchmarkClientInsert(b *testing.B) {
	c := benchCluster(b, 3)
	entry := c.Node(0)
	keys := keysOwnedBy(entry, "", 1024)
	cl := forwardingClient(b, entry.RPCAddr())
	for _, vs := range valueSizes {
		b.Run("forwarded/"+vs.name, func(b *testing.B) {
			value := make([]byte, vs.size)
			runConcurrent(b, 256, func(i int) error {
				return cl.Insert(context.Background(), "events", keys[i&1023], value)
			})
		})
	}
}

// BenchmarkFileSinkValues measures values flushed per second to the file
// sink (JSON Lines, fsync per batch), in batches of 1,000 keys of 10
// 16-byte values.
func BenchmarkFileSinkValues(b *testing.B) {
	f, err := sinks.NewFile(filepath.Join(b.TempDir(), "out.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	batch := sinks.Batch{ID: "bench", Store: "events", Kind: sinks.KindBuffer, Node: "n1", Time: time.Now()}
	value := []byte("0123456789abcdef")
	for k := range 1000 {
		vs := make([][]byte, 10)
		for i := range vs {
			vs[i] = value
		}
		batch.Values = append(batch.Values, sinks.Values{Key: fmt.Sprintf("key-%d", k), Values: vs})
	}
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if err := f.Flush(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*10000)/time.Since(start).Seconds(), "values/s")
}

// BenchmarkHeldValueMemory measures the heap a buffer needs per value it
// holds: 1,000,000 16-byte values over 10,000 keys, unflushed.
func BenchmarkHeldValueMemory(b *testing.B) {
	const values = 1000000
	c := benchCluster(b, 1)
	n := c.Node(0)
	keys := keysOwnedBy(n, "", 10000)
	ctx := context.Background()
	value := make([]byte, 16)
	for b.Loop() {
		if _, err := n.Flush(ctx, "events"); err != nil {
			b.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range values {
			if err := n.Insert(ctx, "events", keys[i%len(keys)], value); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/values, "B/value")
	}
}

// BenchmarkCacheHitLocal measures cache hits at the owner through
// Node.Get, from parallel goroutines.
func BenchmarkCacheHitLocal(b *testing.B) {
	c := benchCluster(b, 1)
	n := c.Node(0)
	keys := keysOwnedBy(n, "", 1024)
	ctx := context.Background()
	for _, k := range keys {
		if _, _, err := n.Get(ctx, "users", k); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, found, err := n.Get(ctx, "users", keys[i&1023]); err != nil || !found {
				b.Error(found, err)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "hit/s")
}

// BenchmarkClientCacheHit measures cache hits through one client
// connection by 256 concurrent callers to one node of a 3-node cluster,
// keys over all three: two thirds are forwarded to their owner.
func BenchmarkClientCacheHit(b *testing.B) {
	c := benchCluster(b, 3)
	entry := c.Node(0)
	keys := keysOwnedBy(entry, "", 1024)
	cl := forwardingClient(b, entry.RPCAddr())
	for _, k := range keys {
		if _, _, err := cl.Get(context.Background(), "users", k); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("forwarded", func(b *testing.B) {
		runConcurrent(b, 256, func(i int) error {
			_, _, err := cl.Get(context.Background(), "users", keys[i&1023])
			return err
		})
	})
}

// forwardingClient dials one node with a client that sends every op to it,
// so that ops on keys it does not own are forwarded: what the forwarding
// benchmarks measure. The client is closed when the benchmark ends.
func forwardingClient(b *testing.B, addr string) *client.Client {
	b.Helper()
	cl, err := client.DialConfig(context.Background(), client.Config{Addrs: []string{addr}, Forward: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cl.Close() })
	return cl
}
