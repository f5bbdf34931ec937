package node_test

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hoard-dev/hoard/loaders"
	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/sinks"
	"github.com/hoard-dev/hoard/testcluster"
)

// respCluster starts n nodes with a RESP listener each, declaring a
// counter "pageviews" and a buffer "events" flushing to one memory sink
// (long intervals: the test flushes), and a cache "users" whose loader
// finds keys starting with "known".
func respCluster(t *testing.T, n int) (*testcluster.Cluster, *sinks.Memory) {
	t.Helper()
	mem := sinks.NewMemory()
	l := newCountingLoader(func(_ context.Context, key string) (loaders.Result, error) {
		if strings.HasPrefix(key, "known") {
			return loaders.Result{Value: valueOf(key)}, nil
		}
		return loaders.Result{}, loaders.ErrNotFound
	})
	c := testcluster.New(t, n, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		cfg.RESPAddr = "127.0.0.1:0"
		cfg.Stores = append(cfg.Stores,
			node.StoreConfig{Name: "pageviews", Kind: node.KindCounter, Sink: mem, Interval: time.Hour},
			node.StoreConfig{Name: "events", Kind: node.KindBuffer, Sink: mem, Interval: time.Hour},
			node.StoreConfig{Name: "users", Kind: node.KindCache, Loader: l},
		)
	}})
	return c, mem
}

// redisClient is a go-redis client of one node's RESP port. go-redis v9
// tries RESP3 first (HELLO 3) and must fall back to RESP2.
func redisClient(t *testing.T, n *node.Node, protocol int) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: n.RESPAddr(), Protocol: protocol, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func TestRESPCommandsFromAnyNode(t *testing.T) {
	c, mem := respCluster(t, 3)
	ctx := ctxT(t)
	clients := []*redis.Client{
		redisClient(t, c.Node(0), 3), redisClient(t, c.Node(1), 2), redisClient(t, c.Node(2), 0),
	}
	const key = "pageviews:/home"
	var want int64
	for i, rdb := range clients {
		got, err := rdb.IncrBy(ctx, key, 5).Result()
		want += 5
		if err != nil || got != want {
			t.Fatalf("node %d: INCRBY = %d, %v; want %d (the count held at the owner)", i, got, err, want)
		}
		if got, err = rdb.Incr(ctx, key).Result(); err != nil || got != want+1 {
			t.Fatalf("node %d: INCR = %d, %v; want %d", i, got, err, want+1)
		}
		if got, err = rdb.DecrBy(ctx, key, 3).Result(); err != nil || got != want-2 {
			t.Fatalf("node %d: DECRBY = %d, %v; want %d", i, got, err, want-2)
		}
		if got, err = rdb.Decr(ctx, key).Result(); err != nil || got != want-3 {
			t.Fatalf("node %d: DECR = %d, %v; want %d", i, got, err, want-3)
		}
		want -= 3
		if s, err := rdb.Get(ctx, key).Result(); err != nil || s != strconv.FormatInt(want, 10) {
			t.Fatalf("node %d: GET counter = %q, %v; want %d", i, s, err, want)
		}
	}
	for i, rdb := range clients {
		k := fmt.Sprintf("events:user-%d", i)
		if n, err := rdb.RPush(ctx, k, "a", "b").Result(); err != nil || n != 2 {
			t.Fatalf("node %d: RPUSH = %d, %v; want 2 (values held)", i, n, err)
		}
		if n, err := clients[(i+1)%3].RPush(ctx, k, "c").Result(); err != nil || n != 3 {
			t.Fatalf("node %d: RPUSH = %d, %v; want 3", i, n, err)
		}
		if n, err := rdb.LLen(ctx, k).Result(); err != nil || n != 3 {
			t.Fatalf("node %d: LLEN = %d, %v; want 3", i, n, err)
		}
		for _, tc := range []struct {
			start, stop int64
			want        string
		}{{0, -1, "a,b,c"}, {1, 1, "b"}, {-2, -1, "b,c"}, {2, 10, "c"}, {5, 10, ""}, {-100, 0, "a"}} {
			got, err := rdb.LRange(ctx, k, tc.start, tc.stop).Result()
			if err != nil || strings.Join(got, ",") != tc.want {
				t.Fatalf("node %d: LRANGE %d %d = %q, %v; want %q", i, tc.start, tc.stop, got, err, tc.want)
			}
		}
	}
	// Caches: read-through GET, SET, MGET, EXISTS, DEL.
	rdb := clients[1]
	if v, err := rdb.Get(ctx, "users:known-1").Result(); err != nil || v != "v:known-1" {
		t.Fatalf("GET read-through = %q, %v", v, err)
	}
	if _, err := rdb.Get(ctx, "users:ghost").Result(); err != redis.Nil {
		t.Fatalf("GET of a key the loader does not find: %v, want redis.Nil", err)
	}
	if err := clients[0].Set(ctx, "users:set-1", "hello", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	got, err := clients[2].MGet(ctx, "users:set-1", "users:ghost", "users:known-2", key).Result()
	if err != nil || fmt.Sprint(got) != fmt.Sprintf("[hello <nil> v:known-2 %d]", want) {
		t.Fatalf("MGET = %v, %v", got, err)
	}
	if n, err := rdb.Exists(ctx, "users:set-1", "users:ghost", "users:known-3").Result(); err != nil || n != 2 {
		t.Fatalf("EXISTS = %d, %v; want 2", n, err)
	}
	if n, err := rdb.Del(ctx, "users:set-1", "users:ghost").Result(); err != nil || n != 1 {
		t.Fatalf("DEL = %d, %v; want 1", n, err)
	}
	if _, err := clients[0].Get(ctx, "users:set-1").Result(); err != redis.Nil {
		t.Fatalf("GET after DEL: %v, want redis.Nil", err)
	}

	// What lands in the sink is what was written through RESP.
	flushAll(t, c)
	counts, values, _ := sums(mem)
	if counts["/home"] != want {
		t.Fatalf("sink counts = %v; want /home = %d", counts, want)
	}
	for i := range clients {
		if v := values[fmt.Sprintf("user-%d", i)]; strings.Join(v, ",") != "a,b,c" {
			t.Fatalf("sink values of user-%d = %v; want a,b,c in order", i, v)
		}
	}
}

func TestRESPConnectionCommands(t *testing.T) {
	c, _ := respCluster(t, 1)
	ctx := ctxT(t)
	rdb := redisClient(t, c.Node(0), 0)
	if s, err := rdb.Ping(ctx).Result(); err != nil || s != "PONG" {
		t.Fatalf("PING = %q, %v", s, err)
	}
	if s, err := rdb.Echo(ctx, "hi there").Result(); err != nil || s != "hi there" {
		t.Fatalf("ECHO = %q, %v", s, err)
	}
	// One connection: the pool may hold several, the name is per connection.
	conn := rdb.Conn()
	defer conn.Close()
	if err := conn.ClientSetName(ctx, "tester").Err(); err != nil {
		t.Fatalf("CLIENT SETNAME: %v", err)
	}
	if s, err := conn.ClientGetName(ctx).Result(); err != nil || s != "tester" {
		t.Fatalf("CLIENT GETNAME = %q, %v", s, err)
	}
	if err := conn.Select(ctx, 0).Err(); err != nil {
		t.Fatalf("SELECT 0: %v", err)
	}
	if err := conn.Select(ctx, 1).Err(); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Fatalf("SELECT 1: %v, want out of range", err)
	}
	if err := rdb.IncrBy(ctx, "pageviews:k", 7).Err(); err != nil {
		t.Fatal(err)
	}
	info, err := rdb.Info(ctx).Result()
	if err != nil {
		t.Fatalf("INFO: %v", err)
	}
	for _, want := range []string{"# Server", "redis_version:", "# Clients", "connected_clients:", "# Memory", "used_memory:", "# Keyspace", "store_pageviews:kind=counter,keys=1,values=1"} {
		if !strings.Contains(info, want) {
			t.Fatalf("INFO lacks %q:\n%s", want, info)
		}
	}
	if info, err := rdb.Info(ctx, "keyspace").Result(); err != nil || strings.Contains(info, "# Server") || !strings.Contains(info, "# Keyspace") {
		t.Fatalf("INFO keyspace = %q, %v", info, err)
	}
	if n, err := rdb.Do(ctx, "COMMAND", "COUNT").Int(); err != nil || n < 20 {
		t.Fatalf("COMMAND COUNT = %d, %v", n, err)
	}
	if v, err := rdb.Do(ctx, "COMMAND", "INFO", "incrby").Slice(); err != nil || len(v) != 1 {
		t.Fatalf("COMMAND INFO incrby = %v, %v", v, err)
	}
	if _, err := rdb.Command(ctx).Result(); err != nil {
		t.Fatalf("COMMAND as go-redis reads it: %v", err)
	}
	if err := rdb.Do(ctx, "HELLO", "3").Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPROTO") {
		t.Fatalf("HELLO 3: %v, want NOPROTO", err)
	}
	if v, err := rdb.Do(ctx, "HELLO", "2").Slice(); err != nil || fmt.Sprint(v[4:6]) != "[proto 2]" {
		t.Fatalf("HELLO 2 = %v, %v", v, err)
	}
	q := rdb.Conn()
	if s, err := q.Do(ctx, "QUIT").Text(); err != nil || s != "OK" {
		t.Fatalf("QUIT = %q, %v", s, err)
	}
	_ = q.Close()
}

func TestRESPErrorsNameStoreAndCommand(t *testing.T) {
	c, mem := respCluster(t, 2)
	ctx := ctxT(t)
	rdb := redisClient(t, c.Node(1), 0)
	// A key held at the int64 limit. A ring change at start flushes the
	// partitions whose backups changed, on its own goroutine, which may
	// take a write made just after: then the key is in the sink instead, and
	// another key is held.
	big := ""
	for i := 0; big == "" && i < 5; i++ {
		key := fmt.Sprintf("pageviews:big%d", i)
		if err := rdb.IncrBy(ctx, key, math.MaxInt64).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.Do(ctx, "INCRBY", key, "0").Err(); err != nil {
			t.Fatal(err)
		}
		if _, flushed := mem.Counts("pageviews")[strings.TrimPrefix(key, "pageviews:")]; !flushed {
			big = key
		}
	}
	if big == "" {
		t.Fatal("every key at the limit was flushed away at once")
	}
	for _, tc := range []struct {
		name string
		args []any
		want []string
	}{
		{"unknown store", []any{"INCR", "nosuch:k"}, []string{"ERR", "unknown store 'nosuch'"}},
		{"no separator", []any{"INCR", "pageviews"}, []string{"ERR", "names no store"}},
		{"counter command on a buffer", []any{"INCR", "events:k"}, []string{"WRONGTYPE", "INCR", "'events'", "buffer"}},
		{"buffer command on a counter", []any{"RPUSH", "pageviews:k", "v"}, []string{"WRONGTYPE", "RPUSH", "'pageviews'", "counter"}},
		{"cache command on a counter", []any{"SET", "pageviews:k", "v"}, []string{"WRONGTYPE", "SET", "counter"}},
		{"GET of a buffer", []any{"GET", "events:k"}, []string{"WRONGTYPE", "GET", "buffer"}},
		{"DEL of a counter", []any{"DEL", "users:a", "pageviews:k"}, []string{"WRONGTYPE", "DEL"}},
		{"not an integer", []any{"INCRBY", "pageviews:k", "ten"}, []string{"ERR", "not an integer"}},
		{"overflow", []any{"INCR", big}, []string{"ERR", "overflow"}},
		{"decrement overflow", []any{"DECRBY", "pageviews:k", "-9223372036854775808"}, []string{"ERR", "overflow"}},
		{"wrong arity", []any{"INCRBY", "pageviews:k"}, []string{"ERR", "wrong number of arguments"}},
		{"unknown command", []any{"ZADD", "users:k", "1", "m"}, []string{"ERR unknown command 'ZADD'"}},
		{"unsupported SET option", []any{"SET", "users:k", "v", "NX"}, []string{"ERR", "NX is not supported"}},
		{"bad expire", []any{"SET", "users:k", "v", "EX", "0"}, []string{"ERR", "invalid expire"}},
		{"LRANGE index", []any{"LRANGE", "events:k", "a", "1"}, []string{"ERR", "not an integer"}},
		{"empty key", []any{"INCR", "pageviews:"}, []string{"ERR", "empty key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := rdb.Do(ctx, tc.args...).Err()
			if err == nil {
				t.Fatalf("%v: no error", tc.args)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("%v: error %q lacks %q", tc.args, err, w)
				}
			}
		})
	}
	// The connection still serves after errors.
	if n, err := rdb.Get(ctx, big).Int64(); err != nil || n != math.MaxInt64 {
		t.Fatalf("GET after errors = %d, %v", n, err)
	}
}

// Pipelined commands are answered in order, and ops on one key from one
// connection apply in the order sent, wherever the key's owner is.
func TestRESPPipelineKeepsOrder(t *testing.T) {
	c, mem := respCluster(t, 3)
	ctx := ctxT(t)
	rdb := redisClient(t, c.Node(0), 0)
	const n = 500
	pipe := rdb.Pipeline()
	var incrs []*redis.IntCmd
	var gets []*redis.StringCmd
	for i := range n {
		for k := range 4 {
			pipe.RPush(ctx, fmt.Sprintf("events:ordered-%d", k), strconv.Itoa(i))
		}
		incrs = append(incrs, pipe.Incr(ctx, "pageviews:piped"))
		gets = append(gets, pipe.Get(ctx, "pageviews:piped"))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	for i := range n {
		if got := incrs[i].Val(); got != int64(i+1) {
			t.Fatalf("INCR %d in the pipeline replied %d; want %d", i, got, i+1)
		}
		if got := gets[i].Val(); got != strconv.Itoa(i+1) {
			t.Fatalf("GET %d in the pipeline replied %s; want %d", i, got, i+1)
		}
	}
	flushAll(t, c)
	_, values, _ := sums(mem)
	for k := range 4 {
		v := values[fmt.Sprintf("ordered-%d", k)]
		if len(v) != n {
			t.Fatalf("ordered-%d: %d values in the sink; want %d", k, len(v), n)
		}
		for i, s := range v {
			if s != strconv.Itoa(i) {
				t.Fatalf("ordered-%d: value %d is %s; want %d (order kept)", k, i, s, i)
			}
		}
	}
}

// TestRESPCacheGetsInPipelines: a GET of a cached key, answered at once
// from the owner's memory (Peek) or through the op path elsewhere, sees
// every SET and DEL before it in the pipeline, on every node: the owner's
// and the others.
func TestRESPCacheGetsInPipelines(t *testing.T) {
	c, _ := respCluster(t, 3)
	ctx := ctxT(t)
	for i := range 3 {
		rdb := redisClient(t, c.Node(i), 0)
		pipe := rdb.Pipeline()
		type read struct {
			cmd  *redis.StringCmd
			want string // "" for none
		}
		var reads []read
		for k := range 30 {
			key := fmt.Sprintf("users:piped-%d", k)
			for round := range 3 {
				v := fmt.Sprintf("n%d-r%d", i, round)
				pipe.Set(ctx, key, v, 0)
				reads = append(reads, read{pipe.Get(ctx, key), v})
			}
			pipe.Del(ctx, key)
			reads = append(reads, read{pipe.Get(ctx, key), ""})
			pipe.Set(ctx, key, "last", 0)
		}
		if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
			t.Fatalf("node %d: pipeline: %v", i, err)
		}
		for j, r := range reads {
			got, err := r.cmd.Result()
			if r.want == "" && err != redis.Nil || r.want != "" && (err != nil || got != r.want) {
				t.Fatalf("node %d: GET %d in the pipeline = %q, %v; want %q", i, j, got, err, r.want)
			}
		}
		for _, n := range []int{0, 1, 2} {
			if got, err := redisClient(t, c.Node(n), 0).Get(ctx, "users:piped-7").Result(); err != nil || got != "last" {
				t.Fatalf("node %d after node %d's pipeline: GET = %q, %v; want last", n, i, got, err)
			}
		}
	}
}

// Many connections to every node at once: every acknowledged increment
// lands in the sink, once.
func TestRESPConcurrentConnections(t *testing.T) {
	c, mem := respCluster(t, 3)
	ctx := ctxT(t)
	const workers, each = 12, 200
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := range workers {
		rdb := redisClient(t, c.Node(w%3), 0)
		wg.Go(func() {
			for i := range each {
				if err := rdb.Incr(ctx, fmt.Sprintf("pageviews:k%d", (w*each+i)%37)).Err(); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatalf("INCR: %v", err)
	}
	flushAll(t, c)
	counts, _, _ := sums(mem)
	var total int64
	for _, v := range counts {
		total += v
	}
	if total != workers*each {
		t.Fatalf("the sink holds %d increments; %d were acknowledged", total, workers*each)
	}
}

// SET with EX or PX expires the entry then, whatever reads come between;
// a plain SET does not expire.
func TestRESPSetExpires(t *testing.T) {
	c, _ := respCluster(t, 2)
	ctx := ctxT(t)
	rdb := redisClient(t, c.Node(0), 0)
	other := redisClient(t, c.Node(1), 0)
	before := time.Now() // the owner stores the entry after this
	if err := rdb.Set(ctx, "users:px", "short", 300*time.Millisecond).Err(); err != nil {
		t.Fatalf("SET PX: %v", err)
	}
	if err := rdb.Do(ctx, "SET", "users:ex", "long", "EX", "3600").Err(); err != nil {
		t.Fatalf("SET EX: %v", err)
	}
	if err := rdb.Set(ctx, "users:plain", "kept", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	// Read it every 20ms until it is gone (reads do not extend it), with a
	// deadline; it must not be gone before its 300ms.
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := other.Get(ctx, "users:px").Result()
		if err == redis.Nil {
			break
		}
		if err != nil || v != "short" {
			t.Fatalf("GET users:px = %q, %v", v, err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the entry set with PX 300 is still there after 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if gone := time.Since(before); gone < 300*time.Millisecond {
		t.Fatalf("the entry set with PX 300 was gone after %v", gone)
	}
	for k, want := range map[string]string{"users:ex": "long", "users:plain": "kept"} {
		if v, err := other.Get(ctx, k).Result(); err != nil || v != want {
			t.Fatalf("GET %s = %q, %v; want %q", k, v, err, want)
		}
	}
}
