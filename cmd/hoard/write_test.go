package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/loaders"
	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/sinks"
	"github.com/hoard-dev/hoard/testcluster"
)

func TestCounterCommands(t *testing.T) {
	mem := sinks.NewMemory()
	c := testcluster.New(t, 3, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		cfg.Stores = []node.StoreConfig{{Name: "pageviews", Kind: node.KindCounter, Sink: mem, Interval: time.Hour, RetryMax: 1}}
	}})
	addrs := c.RPCAddrs()
	for i := range 9 {
		if _, errOut, code := hoard(t, nil, "incr", "pageviews", "/home", "--rpc", addrs[i%3]); code != 0 {
			t.Fatalf("incr: %s", errOut)
		}
	}
	if _, errOut, code := hoard(t, nil, "incr", "pageviews", "/home", "-4", "--rpc", addrs[0]); code != 0 {
		t.Fatalf("incr -4: %s", errOut)
	}
	if _, errOut, code := hoard(t, nil, "incr", "pageviews", "/home", "10", "--async", "--rpc", addrs[1]); code != 0 {
		t.Fatalf("incr --async: %s", errOut)
	}
	// The async increment lands within ~50ms; count until it does.
	testcluster.WaitFor(t, 5*time.Second, "the async increment to land", func() error {
		out, errOut, code := hoard(t, nil, "count", "pageviews", "/home", "--rpc", addrs[2])
		if code != 0 {
			t.Fatalf("count: %s", errOut)
		}
		if strings.TrimSpace(out) != "15" {
			return fmt.Errorf("count = %q, want 15", out)
		}
		return nil
	})

	out, errOut, code := hoard(t, nil, "flush", "pageviews", "--rpc", addrs[0], "--format", "json")
	if code != 0 {
		t.Fatalf("flush: %s", errOut)
	}
	var nodes []struct{ Node string }
	if err := json.Unmarshal([]byte(out), &nodes); err != nil || len(nodes) != 3 {
		t.Fatalf("flush output %s: %v", out, err)
	}
	if got := mem.Counts("pageviews")["/home"]; got != 15 {
		t.Fatalf("sink has %d, want 15", got)
	}

	// A failing sink: flush reports it, dlq lists and replays it.
	mem.FailWith(func(sinks.Batch) error { return errors.New("sink down") })
	if _, errOut, code := hoard(t, nil, "incr", "pageviews", "/x", "--rpc", addrs[0]); code != 0 {
		t.Fatal(errOut)
	}
	out, _, code = hoard(t, nil, "flush", "--rpc", addrs[0])
	if code == 0 || !strings.Contains(out, "sink down") {
		t.Fatalf("flush with a failing sink: exit %d\n%s", code, out)
	}
	owner, _ := c.Node(0).Owner("pageviews", "/x")
	var ownerRPC string
	for _, n := range c.Nodes() {
		if n.Name() == owner.Owner.Name {
			ownerRPC = n.RPCAddr()
		}
	}
	out, errOut, code = hoard(t, nil, "dlq", "list", "--rpc", ownerRPC)
	if code != 0 || !strings.Contains(out, "sink down") || !strings.Contains(out, "pageviews") {
		t.Fatalf("dlq list: exit %d %s\n%s", code, errOut, out)
	}
	if _, _, code = hoard(t, nil, "dlq", "replay", "--rpc", ownerRPC); code == 0 {
		t.Fatal("replay into a failing sink exited 0")
	}
	mem.FailWith(nil)
	out, errOut, code = hoard(t, nil, "dlq", "replay", "pageviews", "--rpc", ownerRPC)
	if code != 0 || !strings.Contains(out, "replayed") {
		t.Fatalf("dlq replay: exit %d %s\n%s", code, errOut, out)
	}
	if got := mem.Counts("pageviews")["/x"]; got != 1 {
		t.Fatalf("replayed /x = %d", got)
	}
	out, _, _ = hoard(t, nil, "dlq", "list", "--rpc", ownerRPC)
	if !strings.Contains(out, "no dead letters") {
		t.Fatalf("dlq list after replay:\n%s", out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"incr", "nope", "k"}, "unknown store"},
		{[]string{"incr", "pageviews", "k", "1.5"}, "DELTA"},
		{[]string{"incr", "pageviews", "k", "99999999999999999999"}, "DELTA"},
		{[]string{"count", "pageviews", ""}, "empty key"},
		{[]string{"flush", "nope"}, "unknown store"},
	} {
		_, errOut, code := hoard(t, nil, append(tc.args, "--rpc", addrs[0])...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestBufferCommands(t *testing.T) {
	mem := sinks.NewMemory()
	c := testcluster.New(t, 3, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		cfg.Stores = []node.StoreConfig{
			{Name: "events", Kind: node.KindBuffer, Sink: mem, Interval: time.Hour},
			{Name: "pageviews", Kind: node.KindCounter, Sink: mem, Interval: time.Hour},
		}
	}})
	addrs := c.RPCAddrs()
	if _, errOut, code := hoard(t, nil, "insert", "events", "u1", "login", "view /home", "--rpc", addrs[0]); code != 0 {
		t.Fatalf("insert: %s", errOut)
	}
	if _, errOut, code := hoard(t, nil, "insert", "events", "u1", "logout", "--rpc", addrs[1]); code != 0 {
		t.Fatalf("insert: %s", errOut)
	}
	out, errOut, code := hoard(t, nil, "dump", "events", "u1", "--rpc", addrs[2])
	if code != 0 || out != "login\nview /home\nlogout\n" {
		t.Fatalf("dump: exit %d %s\n%q", code, errOut, out)
	}
	out, _, code = hoard(t, nil, "dump", "events", "u1", "--rpc", addrs[2], "--format", "json")
	var d struct{ Values []string }
	if code != 0 || json.Unmarshal([]byte(out), &d) != nil || len(d.Values) != 3 {
		t.Fatalf("dump json: %s", out)
	}
	out, errOut, code = hoard(t, nil, "info", "--rpc", addrs[0])
	if code != 0 || strings.Count(out, "events") != 3 || strings.Count(out, "pageviews") != 3 || !strings.Contains(out, "REPLICA") || !strings.Contains(out, "FAILOVERS") {
		t.Fatalf("info: exit %d %s\n%s", code, errOut, out)
	}
	out, _, code = hoard(t, nil, "info", "events", "--rpc", addrs[0], "--format", "json")
	var nodes []struct {
		Node       string
		Unflushed  int64
		ReplicaOps int64 `json:"replica_ops"`
		Stores     []struct {
			Store  string
			Keys   int
			Values int64
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &nodes) != nil || len(nodes) != 3 {
		t.Fatalf("info json: %s", out)
	}
	var values, unflushed, replicated int64
	for _, n := range nodes {
		unflushed += n.Unflushed
		replicated += n.ReplicaOps
		for _, s := range n.Stores {
			values += s.Values
		}
	}
	if values != 3 || unflushed != 2 || replicated != 2 {
		t.Fatalf("info: %d values held, %d ops unflushed, %d held by backups; want 3, 2 and 2\n%s", values, unflushed, replicated, out)
	}
	if _, errOut, code := hoard(t, nil, "flush", "--rpc", addrs[0]); code != 0 {
		t.Fatal(errOut)
	}
	if got := mem.Values("events")["u1"]; len(got) != 3 || string(got[2]) != "logout" {
		t.Fatalf("sink: %q", got)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"insert", "events", "u1"}, "requires at least 3 arg"},
		{[]string{"insert", "pageviews", "k", "v"}, "counter store"},
		{[]string{"incr", "events", "k"}, "buffer store"},
		{[]string{"dump", "nope", "k"}, "unknown store"},
		{[]string{"info", "nope"}, "unknown store"},
	} {
		_, errOut, code := hoard(t, nil, append(tc.args, "--rpc", addrs[0])...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestCacheCommands(t *testing.T) {
	loader := loaders.LoaderFunc(func(_ context.Context, key string) (loaders.Result, error) {
		switch key {
		case "ghost":
			return loaders.Result{}, loaders.ErrNotFound
		case "broken":
			return loaders.Result{}, errors.New("backend down")
		}
		return loaders.Result{Value: []byte("loaded " + key)}, nil
	})
	c := testcluster.New(t, 3, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		cfg.Stores = []node.StoreConfig{{Name: "users", Kind: node.KindCache, Loader: loader}}
	}})
	addrs := c.RPCAddrs()
	out, errOut, code := hoard(t, nil, "get", "users", "alice", "--rpc", addrs[0])
	if code != 0 || out != "loaded alice\n" {
		t.Fatalf("get: exit %d %s %q", code, errOut, out)
	}
	out, _, code = hoard(t, nil, "get", "users", "alice", "--rpc", addrs[1], "--format", "json")
	var g struct {
		Value  string
		Loaded bool
	}
	if code != 0 || json.Unmarshal([]byte(out), &g) != nil || g.Value != "loaded alice" || g.Loaded {
		t.Fatalf("second get should hit the cache: %s", out)
	}
	if _, errOut, code := hoard(t, nil, "set", "users", "alice", "direct", "--rpc", addrs[2]); code != 0 {
		t.Fatal(errOut)
	}
	if out, _, _ := hoard(t, nil, "get", "users", "alice", "--rpc", addrs[0]); out != "direct\n" {
		t.Fatalf("get after set: %q", out)
	}
	if _, errOut, code := hoard(t, nil, "get", "users", "ghost", "--rpc", addrs[0]); code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("get of a missing key: exit %d %q", code, errOut)
	}
	if _, errOut, code := hoard(t, nil, "get", "users", "broken", "--rpc", addrs[0]); code == 0 || !strings.Contains(errOut, "backend down") {
		t.Fatalf("get with a failing loader: exit %d %q", code, errOut)
	}
}

func TestLeaveCommand(t *testing.T) {
	mem := sinks.NewMemory()
	c := testcluster.New(t, 3, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		cfg.Stores = []node.StoreConfig{{Name: "pv", Kind: node.KindCounter, Sink: mem, Interval: time.Hour}}
	}})
	n3 := c.Node(2)
	for i := range 50 {
		if _, errOut, code := hoard(t, nil, "incr", "pv", fmt.Sprintf("k%d", i), "--rpc", n3.RPCAddr()); code != 0 {
			t.Fatal(errOut)
		}
	}
	out, errOut, code := hoard(t, nil, "leave", "--rpc", n3.RPCAddr())
	if code != 0 || !strings.Contains(out, "leaving") {
		t.Fatalf("leave: exit %d %s %s", code, out, errOut)
	}
	select {
	case <-n3.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the node did not stop after hoard leave")
	}
	var total int64
	for _, v := range mem.Counts("pv") {
		total += v
	}
	// n3 flushed what it owned as it left; the others still hold theirs.
	var held int64
	for _, n := range c.Nodes() {
		if n != n3 {
			held += n.Stats().Unflushed
		}
	}
	if total+held != 50 {
		t.Fatalf("%d flushed + %d held by the others, want 50", total, held)
	}
	testcluster.WaitFor(t, 20*time.Second, "n1 to see n3 as left", func() error {
		out, _, _ := hoard(t, nil, "members", "--rpc", c.Node(0).RPCAddr(), "--format", "json")
		if !strings.Contains(out, `"status": "left"`) {
			return fmt.Errorf("n3 not seen as left:\n%s", out)
		}
		return nil
	})
}

// TestValuesFromStandardInput: a VALUE of "-" is read from standard input,
// so a value larger than the argument limit (2 MiB here, past Linux's 128
// KiB per argument) can be written; "-" twice and a value over the insert
// limit are refused with the reason.
func TestValuesFromStandardInput(t *testing.T) {
	mem := sinks.NewMemory()
	c := testcluster.New(t, 2, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		cfg.MaxValueBytes = 4 << 20
		cfg.Stores = []node.StoreConfig{
			{Name: "events", Kind: node.KindBuffer, Sink: mem, Interval: time.Hour},
			{Name: "users", Kind: node.KindCache, Loader: loaders.LoaderFunc(func(context.Context, string) (loaders.Result, error) {
				return loaders.Result{}, loaders.ErrNotFound
			})},
		}
	}})
	rpc := c.Node(0).RPCAddr()
	big := bytes.Repeat([]byte("0123456789abcdef"), 2<<20/16)
	if _, errOut, code := hoardIn(t, bytes.NewReader(big), nil, "insert", "events", "u1", "first", "-", "--rpc", rpc); code != 0 {
		t.Fatalf("insert -: exit %d %s", code, errOut)
	}
	if _, errOut, code := hoardIn(t, strings.NewReader("from stdin\n"), nil, "set", "users", "u1", "-", "--rpc", rpc); code != 0 {
		t.Fatalf("set -: exit %d %s", code, errOut)
	}
	if out, errOut, code := hoard(t, nil, "get", "users", "u1", "--rpc", rpc); code != 0 || out != "from stdin\n\n" {
		t.Fatalf("get: exit %d %s %q", code, errOut, out)
	}
	if _, errOut, code := hoard(t, nil, "flush", "--rpc", rpc); code != 0 {
		t.Fatal(errOut)
	}
	if got := mem.Values("events")["u1"]; len(got) != 2 || string(got[0]) != "first" || !bytes.Equal(got[1], big) {
		t.Fatalf("sink holds %d values (want first and the %d bytes from stdin)", len(got), len(big))
	}
	_, errOut, code := hoardIn(t, strings.NewReader("x"), nil, "insert", "events", "u1", "-", "-", "--rpc", rpc)
	if code == 0 || !strings.Contains(errOut, "one value only") {
		t.Fatalf("two -: exit %d %q", code, errOut)
	}
	_, errOut, code = hoardIn(t, bytes.NewReader(make([]byte, 9<<20)), nil, "insert", "events", "u1", "-", "--rpc", rpc)
	if code == 0 || !strings.Contains(errOut, "larger than 8388608 bytes") {
		t.Fatalf("9 MiB on stdin: exit %d %q", code, errOut)
	}
}
