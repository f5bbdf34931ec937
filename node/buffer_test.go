package node_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/client"
	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/sinks"
	"github.com/hoard-dev/hoard/testcluster"
)

// bufferCluster starts n nodes declaring buffer stores that flush to one
// memory sink; tweak adjusts each store.
func bufferCluster(t *testing.T, n int, tweak func(*node.StoreConfig), stores ...string) (*testcluster.Cluster, *sinks.Memory) {
	t.Helper()
	mem := sinks.NewMemory()
	if len(stores) == 0 {
		stores = []string{"events"}
	}
	c := testcluster.New(t, n, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		for _, s := range stores {
			sc := node.StoreConfig{Name: s, Kind: node.KindBuffer, Sink: mem, Interval: time.Hour, RetryMax: 3, RetryDelay: 20 * time.Millisecond}
			if tweak != nil {
				tweak(&sc)
			}
			cfg.Stores = append(cfg.Stores, sc)
		}
	}})
	return c, mem
}

func strs(vs [][]byte) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

func TestInsertKeepsOrderAndAnyKey(t *testing.T) {
	c, mem := bufferCluster(t, 3, nil)
	ctx := ctxT(t)
	keys := []string{"u1", "/path?x=1", "ünïcödé", "emoji 🎉", strings.Repeat("k", node.MaxKeyBytes)}
	cl := dial(t, c.RPCAddrs()...)
	want := map[string][]string{}
	for i, key := range keys {
		for j, n := range c.Nodes() {
			v := fmt.Sprintf("n%d-%d", j, i)
			if err := n.Insert(ctx, "events", key, []byte(v)); err != nil {
				t.Fatalf("%s: insert %q: %v", n.Name(), key, err)
			}
			want[key] = append(want[key], v)
		}
		batch := [][]byte{[]byte("b1"), []byte("b2"), {0xff, 0x00, 0x01}}
		if err := cl.Insert(ctx, "events", key, batch...); err != nil {
			t.Fatalf("client insert %q: %v", key, err)
		}
		want[key] = append(want[key], "b1", "b2", "\xff\x00\x01")
	}
	for _, key := range keys {
		size, err := cl.Size(ctx, "events", key)
		if err != nil || size != len(want[key]) {
			t.Fatalf("size %q = %d, %v; want %d", key, size, err, len(want[key]))
		}
		dumped, err := c.Node(2).Dump(ctx, "events", key)
		if err != nil || fmt.Sprint(strs(dumped)) != fmt.Sprint(want[key]) {
			t.Fatalf("dump %q = %q, %v; want %q", key, strs(dumped), err, want[key])
		}
	}
	flushAll(t, c)
	got := mem.Values("events")
	for _, key := range keys {
		if fmt.Sprint(strs(got[key])) != fmt.Sprint(want[key]) {
			t.Fatalf("sink has %q: %q, want %q", key, strs(got[key]), want[key])
		}
	}
	if size, _ := cl.Size(ctx, "events", keys[0]); size != 0 {
		t.Fatalf("size after flush %d", size)
	}
}

func TestConcurrentInsertsToOneKey(t *testing.T) {
	c, mem := bufferCluster(t, 3, nil)
	ctx := ctxT(t)
	var clients []*client.Client
	for _, addr := range c.RPCAddrs() {
		clients = append(clients, dial(t, addr))
	}
	const total = 10000
	var wg sync.WaitGroup
	for w := range 40 {
		wg.Go(func() {
			for i := w; i < total; i += 40 {
				if err := clients[i%3].Insert(ctx, "events", "hot", []byte(strconv.Itoa(i))); err != nil {
					t.Errorf("insert: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if size, err := clients[0].Size(ctx, "events", "hot"); err != nil || size != total {
		t.Fatalf("size %d, %v; want %d", size, err, total)
	}
	flushAll(t, c)
	got := mem.Values("events")["hot"]
	if len(got) != total {
		t.Fatalf("sink has %d values, want %d", len(got), total)
	}
	seen := make([]bool, total)
	for _, v := range got {
		i, err := strconv.Atoi(string(v))
		if err != nil || seen[i] {
			t.Fatalf("value %q duplicated or foreign", v)
		}
		seen[i] = true
	}
}

func TestBufferStoresNeverMix(t *testing.T) {
	c, mem := bufferCluster(t, 2, nil, "events", "audit")
	ctx := ctxT(t)
	cl := dial(t, c.RPCAddrs()...)
	for i := range 20 {
		key := fmt.Sprintf("k%d", i)
		if err := cl.Insert(ctx, "events", key, []byte("e")); err != nil {
			t.Fatal(err)
		}
		if err := cl.Insert(ctx, "audit", key, []byte("a")); err != nil {
			t.Fatal(err)
		}
	}
	flushAll(t, c)
	for _, b := range mem.Batches() {
		want := "e"
		if b.Store == "audit" {
			want = "a"
		}
		for _, v := range b.Values {
			if len(v.Values) != 1 || string(v.Values[0]) != want {
				t.Fatalf("store %s key %s: %q", b.Store, v.Key, strs(v.Values))
			}
		}
	}
	if len(mem.Values("events")) != 20 || len(mem.Values("audit")) != 20 {
		t.Fatal("keys missing")
	}
	if err := cl.Incr(ctx, "events", "k", 1); !errors.Is(err, client.ErrWrongKind) {
		t.Fatalf("incr on a buffer: %v", err)
	}
	if err := cl.Insert(ctx, "events", "k"); !errors.Is(err, client.ErrInvalid) {
		t.Fatalf("insert of no values: %v", err)
	}
}

func TestBufferFlushesAfterInterval(t *testing.T) {
	c, mem := bufferCluster(t, 3, func(sc *node.StoreConfig) {
		sc.Interval = 300 * time.Millisecond
		sc.Jitter = -1
	})
	ctx := ctxT(t)
	n := c.Node(0)
	start := time.Now()
	if err := n.Insert(ctx, "events", "early", []byte("1")); err != nil {
		t.Fatal(err)
	}
	// The key's clock starts at its first value.
	waitValues(t, mem, "events", "early", 1, 10*time.Second)
	var took time.Duration
	for _, b := range mem.Batches() {
		for _, v := range b.Values {
			if v.Key == "early" {
				took = b.Time.Sub(start) // when the flush started
			}
		}
	}
	if took < 300*time.Millisecond {
		t.Fatalf("flushed after %s, before its 300ms interval", took)
	}
	t.Logf("flushed %s after its first value (interval 300ms)", took.Round(time.Millisecond))
}

// waitValues waits until the sink holds at least n values of store/key.
func waitValues(t *testing.T, mem *sinks.Memory, store, key string, n int, timeout time.Duration) {
	t.Helper()
	testcluster.WaitFor(t, timeout, fmt.Sprintf("%d values of %s/%s in the sink", n, store, key), func() error {
		if got := len(mem.Values(store)[key]); got < n {
			return fmt.Errorf("%d values in the sink", got)
		}
		return nil
	})
}

func TestMaxSizeOneFlushesAtOnce(t *testing.T) {
	c, mem := bufferCluster(t, 3, func(sc *node.StoreConfig) { sc.MaxSize = 1 })
	ctx := ctxT(t)
	cl := dial(t, c.RPCAddrs()...)
	for i := range 5 {
		if err := cl.Insert(ctx, "events", fmt.Sprintf("k%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	// The interval is an hour: only max_size can flush them.
	for i := range 5 {
		waitValues(t, mem, "events", fmt.Sprintf("k%d", i), 1, 10*time.Second)
	}
}

func TestFailingBufferSinkIsRetriedThenReplayable(t *testing.T) {
	mem := sinks.NewMemory()
	c := testcluster.New(t, 1, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		cfg.Stores = []node.StoreConfig{{Name: "events", Kind: node.KindBuffer, Sink: mem, Interval: time.Hour, RetryMax: 3, RetryDelay: 30 * time.Millisecond}}
	}})
	var mu sync.Mutex
	var attempts []time.Time
	mem.FailWith(func(sinks.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, time.Now())
		return errors.New("disk full")
	})
	n := c.Node(0)
	ctx := ctxT(t)
	values := [][]byte{[]byte("a"), {0x00, 0xff}, []byte("c")}
	if err := n.Insert(ctx, "events", "u1", values...); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Flush(ctx, "events"); !errors.Is(err, node.ErrDeadLettered) {
		t.Fatalf("flush: %v", err)
	}
	mu.Lock()
	if len(attempts) != 3 || attempts[2].Sub(attempts[1]) < attempts[1].Sub(attempts[0])*6/5 {
		t.Fatalf("attempts %d at %v: want 3 with growing gaps", len(attempts), attempts)
	}
	mu.Unlock()
	mem.FailWith(nil)
	res, err := n.ReplayDeadLetters(ctx, "events")
	if err != nil || len(res.Replayed) != 1 {
		t.Fatalf("replay: %+v, %v", res, err)
	}
	got := mem.Values("events")["u1"]
	if len(got) != 3 || !bytes.Equal(got[1], []byte{0x00, 0xff}) {
		t.Fatalf("replayed values %q", got)
	}
}

func TestStoppedBufferNodeFlushes(t *testing.T) {
	c, mem := bufferCluster(t, 3, nil)
	ctx := ctxT(t)
	cl := dial(t, c.RPCAddrs()...)
	for i := range 100 {
		if err := cl.Insert(ctx, "events", fmt.Sprintf("k%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	c.Leave(1)
	c.Shutdown(2)
	c.Close()
	if got := len(mem.Values("events")); got != 100 {
		t.Fatalf("%d keys reached the sink, want 100", got)
	}
}

func TestInsertOnStoppedNode(t *testing.T) {
	c, _ := bufferCluster(t, 1, nil)
	addr := c.Node(0).RPCAddr()
	c.Kill(0)
	ctx := ctxT(t)
	cl, err := client.Dial(ctx, addr)
	if err == nil {
		defer cl.Close()
		err = cl.Insert(ctx, "events", "k", []byte("v"))
	}
	if !errors.Is(err, client.ErrUnavailable) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("%v, want ErrUnavailable naming %s", err, addr)
	}
}

// TestBufferRoundRobinExactlyOnceInOrder sends 200,000 distinct values over
// 2,000 keys from 24 senders, eight per node, each waiting for every insert
// before the next: every value reaches the sink exactly once, and each
// sender's values to a key arrive in the order it sent them.
func TestBufferRoundRobinExactlyOnceInOrder(t *testing.T) {
	c, mem := bufferCluster(t, 3, func(sc *node.StoreConfig) {
		sc.Interval = 200 * time.Millisecond
		sc.MaxSize = 50
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // slow under -race
	defer cancel()
	addrs := c.RPCAddrs()
	const senders, total, keys = 24, 200000, 2000
	var wg sync.WaitGroup
	for s := range senders {
		cl := dial(t, addrs[s%3])
		wg.Go(func() {
			for i := s; i < total; i += senders {
				key := fmt.Sprintf("key-%d", i%keys)
				if err := cl.Insert(ctx, "events", key, []byte(fmt.Sprintf("%d:%d", s, i))); err != nil {
					t.Errorf("insert: %v", err)
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
	seen := make([]bool, total)
	count := 0
	for key, vs := range mem.Values("events") {
		last := map[int]int{} // sender -> last i seen for this key
		for _, v := range vs {
			var s, i int
			if _, err := fmt.Sscanf(string(v), "%d:%d", &s, &i); err != nil {
				t.Fatalf("foreign value %q", v)
			}
			if seen[i] {
				t.Fatalf("value %q delivered twice", v)
			}
			seen[i] = true
			count++
			if prev, ok := last[s]; ok && prev >= i {
				t.Fatalf("%s: sender %d's %d arrived after its %d", key, s, i, prev)
			}
			last[s] = i
			if want := fmt.Sprintf("key-%d", i%keys); key != want {
				t.Fatalf("value %q under %s, want %s", v, key, want)
			}
		}
	}
	if count != total {
		t.Fatalf("%d values delivered, want %d", count, total)
	}
}

// TestMaxBytesBoundsMemory blocks the sink and inserts until the node
// refuses: the held bytes stay within max_bytes and inserts fail with the
// overload error instead of growing.
func TestMaxBytesBoundsMemory(t *testing.T) {
	const maxBytes = 1 << 20
	release := make(chan struct{})
	blocking := sinks.SinkFunc(func(ctx context.Context, b sinks.Batch) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	c := testcluster.New(t, 1, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		cfg.Stores = []node.StoreConfig{{Name: "events", Kind: node.KindBuffer, Sink: blocking, Interval: time.Hour, MaxBytes: maxBytes, RetryMax: 1}}
	}})
	t.Cleanup(func() { close(release) }) // lets the final flush through
	n := c.Node(0)
	ctx := ctxT(t)
	value := bytes.Repeat([]byte("x"), 1000)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	accepted, refused := 0, 0
	for i := 0; i < 5000 && refused < 100; i++ {
		err := n.Insert(ctx, "events", fmt.Sprintf("k%d", i%50), value)
		switch {
		case err == nil:
			accepted++
		case errors.Is(err, node.ErrOverloaded):
			refused++
		default:
			t.Fatal(err)
		}
	}
	if refused == 0 {
		t.Fatalf("%d inserts of 1 KB into a 1 MiB store with a blocked sink, none refused", accepted)
	}
	info, err := n.Info("events")
	if err != nil {
		t.Fatal(err)
	}
	if info[0].Bytes > maxBytes {
		t.Fatalf("holds %d bytes, over max_bytes %d", info[0].Bytes, maxBytes)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 4*maxBytes {
		t.Fatalf("heap grew %d bytes for a %d-byte bound", grown, maxBytes)
	}
	cl := dial(t, n.RPCAddr())
	if err := cl.Insert(ctx, "events", "k", value); !errors.Is(err, client.ErrOverloaded) {
		t.Fatalf("client insert: %v, want ErrOverloaded", err)
	}
	t.Logf("accepted %d inserts (%d bytes held), then refused %d", accepted, info[0].Bytes, refused)
}
