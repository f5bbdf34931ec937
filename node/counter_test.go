package node_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/client"
	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/sinks"
	"github.com/hoard-dev/hoard/testcluster"
)

// counterCluster starts n nodes declaring the given counter stores, all
// flushing to one memory sink, with the given interval (long intervals
// leave flushing to the test).
func counterCluster(t *testing.T, n int, interval time.Duration, stores ...string) (*testcluster.Cluster, *sinks.Memory) {
	t.Helper()
	mem := sinks.NewMemory()
	if len(stores) == 0 {
		stores = []string{"pageviews"}
	}
	c := testcluster.New(t, n, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		for _, s := range stores {
			cfg.Stores = append(cfg.Stores, node.StoreConfig{
				Name: s, Kind: node.KindCounter, Sink: mem,
				Interval: interval, RetryMax: 3, RetryDelay: 20 * time.Millisecond,
			})
		}
	}})
	return c, mem
}

func dial(t *testing.T, addrs ...string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, addrs...)
	if err != nil {
		t.Fatalf("dial %v: %v", addrs, err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// flushAll flushes every store on every node through a client and fails
// the test on error.
func flushAll(t *testing.T, c *testcluster.Cluster) {
	t.Helper()
	if _, err := dial(t, c.RPCAddrs()...).Flush(ctxT(t), ""); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

func TestIncrAnyKeyFromAnyNode(t *testing.T) {
	c, mem := counterCluster(t, 3, time.Hour)
	keys := []string{"a", "/home", "with space", "ünïcödé", "emoji 🎉", "tab\tnewline\n", strings.Repeat("k", node.MaxKeyBytes)}
	ctx := ctxT(t)
	want := map[string]int64{}
	for i, key := range keys {
		for j, n := range c.Nodes() {
			delta := int64(i*10 + j + 1)
			if err := n.Incr(ctx, "pageviews", key, delta); err != nil {
				t.Fatalf("%s: incr %q: %v", n.Name(), key, err)
			}
			want[key] += delta
		}
		cl := dial(t, c.Node(i%3).RPCAddr())
		if err := cl.Incr(ctx, "pageviews", key, 100); err != nil {
			t.Fatalf("client incr %q: %v", key, err)
		}
		want[key] += 100
	}
	for _, key := range keys {
		for _, n := range c.Nodes() {
			got, err := n.Count(ctx, "pageviews", key)
			if err != nil || got != want[key] {
				t.Fatalf("%s: count %q = %d, %v; want %d", n.Name(), key, got, err, want[key])
			}
		}
	}
	flushAll(t, c)
	got := mem.Counts("pageviews")
	for _, key := range keys {
		if got[key] != want[key] {
			t.Fatalf("sink has %q = %d, want %d", key, got[key], want[key])
		}
	}
	if n, err := c.Node(0).Count(ctx, "pageviews", "a"); err != nil || n != 0 {
		t.Fatalf("count after flush = %d, %v; want 0", n, err)
	}
}

func TestConcurrentIncrementsAreExact(t *testing.T) {
	c, mem := counterCluster(t, 3, time.Hour)
	ctx := ctxT(t)
	var clients []*client.Client
	for _, addr := range c.RPCAddrs() {
		clients = append(clients, dial(t, addr))
	}
	const total = 10000
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range 50 {
		wg.Go(func() {
			for i := w; i < total; i += 50 {
				key := fmt.Sprintf("k%d", i%7)
				if err := clients[i%len(clients)].Incr(ctx, "pageviews", key, 1); err != nil {
					failed.Add(1)
					t.Errorf("incr: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.FailNow()
	}
	var sum int64
	for k := range 7 {
		n, err := clients[0].Count(ctx, "pageviews", fmt.Sprintf("k%d", k))
		if err != nil {
			t.Fatal(err)
		}
		sum += n
	}
	if sum != total {
		t.Fatalf("counts sum to %d, want %d", sum, total)
	}
	flushAll(t, c)
	sum = 0
	for _, v := range mem.Counts("pageviews") {
		sum += v
	}
	if sum != total {
		t.Fatalf("sink counts sum to %d, want %d", sum, total)
	}
}

func TestStoresNeverMix(t *testing.T) {
	c, mem := counterCluster(t, 3, time.Hour, "pageviews", "clicks")
	ctx := ctxT(t)
	cl := dial(t, c.RPCAddrs()...)
	for i := range 30 {
		key := fmt.Sprintf("k%d", i)
		if err := cl.Incr(ctx, "pageviews", key, 1); err != nil {
			t.Fatal(err)
		}
		if err := cl.Incr(ctx, "clicks", key, 1000); err != nil {
			t.Fatal(err)
		}
	}
	flushAll(t, c)
	for _, b := range mem.Batches() {
		for _, cnt := range b.Counts {
			want := int64(1)
			if b.Store == "clicks" {
				want = 1000
			}
			if cnt.Count != want {
				t.Fatalf("store %s key %s: %d, want %d", b.Store, cnt.Key, cnt.Count, want)
			}
		}
	}
	if got := len(mem.Counts("pageviews")); got != 30 {
		t.Fatalf("pageviews has %d keys", got)
	}
	if got := len(mem.Counts("clicks")); got != 30 {
		t.Fatalf("clicks has %d keys", got)
	}
}

func TestFlushAfterInterval(t *testing.T) {
	c, mem := counterCluster(t, 3, 200*time.Millisecond)
	ctx := ctxT(t)
	start := time.Now()
	if err := c.Node(0).Incr(ctx, "pageviews", "/home", 7); err != nil {
		t.Fatal(err)
	}
	testcluster.WaitFor(t, 10*time.Second, "the increment to be flushed (interval 200ms)", func() error {
		if got := mem.Counts("pageviews")["/home"]; got != 7 {
			return fmt.Errorf("the sink has /home = %d, want 7", got)
		}
		return nil
	})
	t.Logf("flushed %s after the increment (interval 200ms + up to 40ms jitter)", time.Since(start).Round(time.Millisecond))
}

func TestIncrErrors(t *testing.T) {
	c, _ := counterCluster(t, 3, time.Hour)
	ctx := ctxT(t)
	cl := dial(t, c.RPCAddrs()...)
	n := c.Node(1)
	for _, tc := range []struct {
		name      string
		store     string
		key       string
		delta     int64
		nodeErr   error
		clientErr error
	}{
		{"unknown store", "nope", "k", 1, node.ErrUnknownStore, client.ErrUnknownStore},
		{"empty key", "pageviews", "", 1, node.ErrInvalidKey, client.ErrInvalid},
		{"oversized key", "pageviews", strings.Repeat("x", node.MaxKeyBytes+1), 1, node.ErrInvalidKey, client.ErrInvalid},
		{"invalid utf8", "pageviews", "\xff", 1, node.ErrInvalidKey, client.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := n.Incr(ctx, tc.store, tc.key, tc.delta); !errors.Is(err, tc.nodeErr) {
				t.Fatalf("node: %v, want %v", err, tc.nodeErr)
			}
			if err := cl.Incr(ctx, tc.store, tc.key, tc.delta); !errors.Is(err, tc.clientErr) {
				t.Fatalf("client: %v, want %v", err, tc.clientErr)
			}
		})
	}
	t.Run("overflow", func(t *testing.T) {
		// Try from every node so both the local and the forwarded path refuse.
		for i, m := range c.Nodes() {
			key := fmt.Sprintf("big%d", i)
			if err := m.Incr(ctx, "pageviews", key, math.MaxInt64); err != nil {
				t.Fatal(err)
			}
			if err := m.Incr(ctx, "pageviews", key, 1); !errors.Is(err, node.ErrOverflow) {
				t.Fatalf("%s: %v, want ErrOverflow", m.Name(), err)
			}
			if err := cl.Incr(ctx, "pageviews", key, 1); !errors.Is(err, client.ErrOverflow) {
				t.Fatalf("client: %v, want ErrOverflow", err)
			}
			if got, _ := m.Count(ctx, "pageviews", key); got != math.MaxInt64 {
				t.Fatalf("count %d after refused increments", got)
			}
			if err := m.Incr(ctx, "pageviews", key, -5); err != nil {
				t.Fatalf("a decrement must still apply: %v", err)
			}
		}
	})
}

func TestNodeNotRunningGivesClearError(t *testing.T) {
	c, _ := counterCluster(t, 1, time.Hour)
	addr := c.Node(0).RPCAddr()
	cl := dial(t, addr)
	c.Kill(0)
	ctx := ctxT(t)
	if _, err := client.Dial(ctx, addr); !errors.Is(err, client.ErrUnavailable) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("dial a stopped node: %v, want ErrUnavailable naming %s", err, addr)
	}
	// A client connected before the node died may not know whether its
	// first increment went out before the connection broke: it says so.
	// Once the broken connection is known, it reports the node unreachable.
	err := cl.Incr(ctx, "pageviews", "k", 1)
	if !errors.Is(err, client.ErrUnavailable) && !errors.Is(err, client.ErrIndeterminate) {
		t.Fatalf("first incr on a stopped node: %v, want ErrUnavailable or ErrIndeterminate", err)
	}
	err = cl.Incr(ctx, "pageviews", "k", 1)
	if !errors.Is(err, client.ErrUnavailable) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("incr on a stopped node: %v, want ErrUnavailable naming %s", err, addr)
	}
}

func TestStoppingNodesFlushTheirCounters(t *testing.T) {
	for _, how := range []string{"leave", "shutdown"} {
		t.Run(how, func(t *testing.T) {
			c, mem := counterCluster(t, 3, time.Hour)
			ctx := ctxT(t)
			cl := dial(t, c.RPCAddrs()...)
			want := map[string]int64{}
			for i := range 200 {
				key := fmt.Sprintf("k%d", i)
				if err := cl.Incr(ctx, "pageviews", key, int64(i)); err != nil {
					t.Fatal(err)
				}
				want[key] = int64(i)
			}
			stopped := c.Node(2).Name()
			if how == "leave" {
				c.Leave(2)
			} else {
				c.Shutdown(2)
			}
			// The stopped node flushed what it owned, before it was gone.
			var fromStopped int
			for _, b := range mem.Batches() {
				if b.Node == stopped {
					fromStopped += len(b.Counts)
				}
			}
			if fromStopped == 0 {
				t.Fatalf("%s flushed nothing on %s", stopped, how)
			}
			// The rest flush when they stop too: nothing is lost.
			c.Close()
			got := mem.Counts("pageviews")
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("%s: sink has %d, want %d", k, got[k], v)
				}
			}
		})
	}
}

func TestIncrAsync(t *testing.T) {
	c, mem := counterCluster(t, 3, time.Hour)
	ctx := ctxT(t)
	cl := dial(t, c.RPCAddrs()...)
	for i := range 3000 {
		key := fmt.Sprintf("k%d", i%10)
		if i%2 == 0 {
			if err := cl.IncrAsync(ctx, "pageviews", key, 1); err != nil {
				t.Fatal(err)
			}
		} else if err := c.Node(i%3).IncrAsync("pageviews", key, 1); err != nil {
			t.Fatal(err)
		}
	}
	// Async increments reach their owners within about 50ms.
	testcluster.WaitFor(t, 10*time.Second, "the async increments to be applied", func() error {
		var sum int64
		for k := range 10 {
			n, err := cl.Count(ctx, "pageviews", fmt.Sprintf("k%d", k))
			if err != nil {
				t.Fatal(err)
			}
			sum += n
		}
		if sum != 3000 {
			return fmt.Errorf("async increments applied: %d of 3000", sum)
		}
		return nil
	})
	if n, err := cl.AsyncFailures(); n != 0 {
		t.Fatalf("%d async failures: %v", n, err)
	}
	if err := cl.IncrAsync(ctx, "pageviews", "", 1); err != nil {
		t.Fatal(err) // sent; the node refuses it and the client counts it
	}
	testcluster.WaitFor(t, 5*time.Second, "the refused async increment to be counted", func() error {
		if n, err := cl.AsyncFailures(); n != 1 {
			return fmt.Errorf("%d async failures (%v), want 1", n, err)
		}
		return nil
	})
	flushAll(t, c)
	var sum int64
	for _, v := range mem.Counts("pageviews") {
		sum += v
	}
	if sum != 3000 {
		t.Fatalf("sink sum %d, want 3000", sum)
	}
}

// TestRoundRobinIncrementsOverThreeNodes sends 100,000 increments over
// 1,000 keys round-robin to all nodes while they flush every 300ms: the
// sink receives per key exactly the sum sent, and, the ring being stable,
// every key is only ever flushed by one node.
//
// Counters are exact whatever the ring does, but which node flushes a key
// is only fixed while the ring is: a false failure detection on a loaded
// machine changes it. The nodes therefore detect failures slowly, and a run
// during which the ring changed anyway is repeated on a new cluster.
func TestRoundRobinIncrementsOverThreeNodes(t *testing.T) {
	const attempts = 3
	for attempt := 1; ; attempt++ {
		var stable bool
		t.Run(fmt.Sprintf("run %d", attempt), func(t *testing.T) { stable = roundRobinRun(t) })
		if t.Failed() || stable {
			return
		}
		if attempt == attempts {
			testcluster.SkipOrFailInCI(t, "the ring changed during each of %d runs (false failure detection on a loaded machine): owner uniqueness not checked", attempts)
		}
	}
}

// roundRobinRun is one run of TestRoundRobinIncrementsOverThreeNodes. It
// reports whether the ring stayed the same, and so whether owner
// uniqueness was checked.
func roundRobinRun(t *testing.T) (stable bool) {
	mem := sinks.NewMemory()
	c := testcluster.New(t, 3, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		cfg.Stores = []node.StoreConfig{{
			Name: "pageviews", Kind: node.KindCounter, Sink: mem,
			Interval: 300 * time.Millisecond, RetryMax: 3, RetryDelay: 20 * time.Millisecond,
		}}
		// Slow failure detection: this test is not about it, and a node
		// busy with the race detector must not be declared dead.
		cfg.Gossip.ProbeInterval = time.Second
		cfg.Gossip.ProbeTimeout = 500 * time.Millisecond
		cfg.Gossip.SuspicionMult = 6
	}})
	ctx := ctxT(t)
	var clients []*client.Client
	for _, addr := range c.RPCAddrs() {
		clients = append(clients, dial(t, addr))
	}
	version := ringVersions(c)
	const total, keys = 100000, 1000
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < total; i += 16 {
				if err := clients[i%3].Incr(ctx, "pageviews", fmt.Sprintf("key-%d", i%keys), int64(i%5+1)); err != nil {
					t.Errorf("incr: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	flushAll(t, c)
	want := map[string]int64{}
	for i := range total {
		want[fmt.Sprintf("key-%d", i%keys)] += int64(i%5 + 1)
	}
	got := mem.Counts("pageviews")
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s: sink has %d, want %d", k, got[k], v)
		}
	}
	if !slices.Equal(version, ringVersions(c)) {
		t.Logf("the ring changed during the run (versions %v, then %v): owner uniqueness not checked", version, ringVersions(c))
		return false
	}
	flushedBy := map[string]string{}
	batches := mem.Batches()
	for _, b := range batches {
		for _, cnt := range b.Counts {
			if prev, ok := flushedBy[cnt.Key]; ok && prev != b.Node {
				t.Fatalf("%s flushed by %s and %s", cnt.Key, prev, b.Node)
			}
			flushedBy[cnt.Key] = b.Node
		}
	}
	t.Logf("%d batches over the run", len(batches))
	return true
}

// TestIncrementsAcrossAJoin keeps incrementing through all nodes while a
// fourth joins and partitions move: ops that reach a node that just lost
// their partition are refused and routed again, and the sink ends up with
// exactly what was acknowledged.
func TestIncrementsAcrossAJoin(t *testing.T) {
	c, mem := counterCluster(t, 3, 200*time.Millisecond)
	ctx := ctxT(t)
	var clients []*client.Client
	for _, addr := range c.RPCAddrs() {
		clients = append(clients, dial(t, addr))
	}
	var acked sync.Map // key -> *atomic.Int64
	var ackedTotal atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("k%d", (i*8+w)%300)
				if err := clients[(i+w)%3].Incr(ctx, "pageviews", key, 1); err != nil {
					t.Errorf("incr: %v", err)
					return
				}
				v, _ := acked.LoadOrStore(key, new(atomic.Int64))
				v.(*atomic.Int64).Add(1)
				ackedTotal.Add(1)
			}
		})
	}
	// Traffic before, during and after the join.
	waitAcked := func(n int64) {
		t.Helper()
		testcluster.WaitFor(t, 20*time.Second, fmt.Sprintf("%d acknowledged increments", n), func() error {
			if got := ackedTotal.Load(); got < n && !t.Failed() { // a writer that failed stops waiting
				return fmt.Errorf("only %d increments acknowledged, want %d", got, n)
			}
			return nil
		})
	}
	waitAcked(2000)
	c.Add()
	c.WaitConverged()
	waitAcked(ackedTotal.Load() + 3000)
	close(stop)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	flushAll(t, c)
	got := mem.Counts("pageviews")
	var total int64
	acked.Range(func(k, v any) bool {
		n := v.(*atomic.Int64).Load()
		total += n
		if got[k.(string)] != n {
			t.Errorf("%s: sink has %d, acknowledged %d", k, got[k.(string)], n)
		}
		return true
	})
	t.Logf("%d acknowledged increments across the join", total)
}

func TestClientTriesTheNextAddress(t *testing.T) {
	c, _ := counterCluster(t, 2, time.Hour)
	ctx := ctxT(t)
	dead := "127.0.0.1:1"
	cl := dial(t, dead, c.Node(0).RPCAddr())
	if err := cl.Incr(ctx, "pageviews", "k", 1); err != nil {
		t.Fatal(err)
	}
	if cl.Addr() != c.Node(0).RPCAddr() {
		t.Fatalf("talking to %s", cl.Addr())
	}
}

// TestLostPartitionsAreFlushedAtOnce: when a join moves partitions away
// from a node, it flushes what it holds for them at once, without waiting
// for its interval.
func TestLostPartitionsAreFlushedAtOnce(t *testing.T) {
	// Acknowledged in memory: with ack = "replicated" a kept partition
	// whose backup changed is flushed too (TestPartitionsWhoseBackupsChangedAreFlushed),
	// and a transient ring on a loaded machine can change backups.
	mem := sinks.NewMemory()
	c := testcluster.New(t, 2, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		cfg.Stores = []node.StoreConfig{{Name: "pageviews", Kind: node.KindCounter, Sink: mem, Interval: time.Hour, Ack: node.AckMemory}}
	}})
	ctx := ctxT(t)
	n1 := c.Node(0)
	keys := keysOwnedBy(n1, n1.Name(), 300)
	for _, k := range keys {
		if err := n1.Incr(ctx, "pageviews", k, 1); err != nil {
			t.Fatal(err)
		}
	}
	c.Add()
	c.WaitConverged()
	snap := n1.Ring()
	var moved []string
	for _, k := range keys {
		if _, o := snap.Locate("pageviews", k); o.Name != n1.Name() {
			moved = append(moved, k)
		}
	}
	if len(moved) == 0 {
		t.Fatal("the join moved none of n1's keys")
	}
	testcluster.WaitFor(t, 10*time.Second, "n1 to flush the keys it lost", func() error {
		got := mem.Counts("pageviews")
		missing := 0
		for _, k := range moved {
			if got[k] != 1 {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d moved keys not flushed by their old owner", missing, len(moved))
		}
		return nil
	})
	// Keys n1 still owns stay until its interval.
	for _, k := range keys {
		if _, o := snap.Locate("pageviews", k); o.Name == n1.Name() && mem.Counts("pageviews")[k] != 0 {
			t.Fatalf("%s, still owned by n1, was flushed too", k)
		}
	}
}
