package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

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
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, errOut, code := hoard(t, nil, "count", "pageviews", "/home", "--rpc", addrs[2])
		if code != 0 {
			t.Fatalf("count: %s", errOut)
		}
		if strings.TrimSpace(out) == "15" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("count = %q, want 15", out)
		}
		time.Sleep(20 * time.Millisecond)
	}

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
