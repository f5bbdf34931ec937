//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hoard-dev/hoard/testcluster"
)

// redisCLI is Debian's redis-cli (redis-tools), which .ci/run installs.
func redisCLI(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("redis-cli")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-cli not found under CI; .ci/run installs redis-tools")
		}
		t.Skip("redis-cli not found; apt-get install redis-tools")
	}
	return path
}

// cli runs redis-cli against a RESP address and returns its trimmed output.
func cli(t *testing.T, bin, addr string, stdin string, args ...string) string {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command(bin, append([]string{"-h", host, "-p", port}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// waitSameRing waits until every agent places every partition on the
// same owner and backups.
func waitSameRing(t *testing.T, agents []*agent) {
	t.Helper()
	waitFor(t, 30*time.Second, "the agents to agree on the ring", func() error {
		var first string
		for _, a := range agents {
			out, err := hoardErr("ring", "--format", "json", "--rpc", a.rpc)
			if err != nil {
				return err
			}
			var r struct {
				Checksum string `json:"checksum"` // of the placement
			}
			if err := json.Unmarshal(out, &r); err != nil {
				return fmt.Errorf("%s: %w", out, err)
			}
			if first == "" {
				first = r.Checksum
			} else if r.Checksum != first {
				return fmt.Errorf("%s places partitions differently", a.name)
			}
		}
		return nil
	})
}

// TestRedisCLIThroughAgents: redis-cli, talking to any of three agents,
// writes what `hoard incr` and `hoard insert` write. The same increments
// and values go to one key through redis-cli and to a twin key through the
// hoard CLI, into a file sink and a PostgreSQL sink; after a graceful stop
// both sinks hold the same figures for both keys. A pipe of a thousand
// pipelined commands (redis-cli --pipe) lands exactly once, in order.
func TestRedisCLIThroughAgents(t *testing.T) {
	bin := redisCLI(t)
	dsn := testcluster.PostgresDSN(t)
	agents, counters, values := startPGAgents(t, dsn, `
sink "file" "out" { path = "{dir}/out.jsonl" }
counter "pageviews" {
  sink     = "out"
  interval = "1h"
}
buffer "events" {
  sink     = "out"
  interval = "1h"
}`, "")
	for _, a := range agents[1:] {
		waitAlive(t, a, 3)
	}
	// Replies are counts held at the owner: a partition handed off while
	// the ring settles would be flushed, and its count start again.
	waitSameRing(t, agents)

	// redis-cli's replies are the counts held at the owner.
	want := map[string]int64{}
	for i, a := range agents {
		for _, store := range []string{"pageviews", "pv"} {
			delta := int64(5 + i)
			want[store] += delta
			got := cli(t, bin, a.resp, "", "INCRBY", store+":/home", fmt.Sprint(delta))
			if got != fmt.Sprint(want[store]) {
				t.Fatalf("%s: INCRBY %s:/home %d replied %q; want %d", a.name, store, delta, got, want[store])
			}
			hoard(t, "incr", store, "/home-cli", fmt.Sprint(delta), "--rpc", a.rpc)
		}
		for _, store := range []string{"events", "ev"} {
			v1, v2 := fmt.Sprintf("%s-a", a.name), fmt.Sprintf("%s-b", a.name)
			if got := cli(t, bin, a.resp, "", "RPUSH", store+":u1", v1, v2); got != fmt.Sprint(2*(i+1)) {
				t.Fatalf("%s: RPUSH %s:u1 replied %q; want %d", a.name, store, got, 2*(i+1))
			}
			hoard(t, "insert", store, "u1-cli", v1, v2, "--rpc", a.rpc)
		}
	}
	if got := cli(t, bin, agents[2].resp, "", "GET", "pageviews:/home"); got != fmt.Sprint(want["pageviews"]) {
		t.Fatalf("GET pageviews:/home = %q; want %d", got, want["pageviews"])
	}
	if got := cli(t, bin, agents[0].resp, "", "LRANGE", "events:u1", "0", "-1"); got != "n1-a\nn1-b\nn2-a\nn2-b\nn3-a\nn3-b" {
		t.Fatalf("LRANGE events:u1 0 -1 = %q", got)
	}
	if got := cli(t, bin, agents[1].resp, "", "INCR", "nosuch:k"); !strings.Contains(got, "unknown store 'nosuch'") {
		t.Fatalf("INCR of an unknown store: %q", got)
	}
	if got := cli(t, bin, agents[1].resp, "", "INCR", "events:k"); !strings.HasPrefix(got, "WRONGTYPE") {
		t.Fatalf("INCR of a buffer: %q", got)
	}

	// A thousand pipelined commands through redis-cli --pipe, to one agent.
	var pipe strings.Builder
	const piped = 1000
	for i := range piped {
		pipe.WriteString(fmt.Sprintf("RPUSH events:piped %d\r\nINCR pv:piped\r\n", i))
	}
	if out := cli(t, bin, agents[1].resp, pipe.String(), "--pipe"); !strings.Contains(out, fmt.Sprintf("errors: 0, replies: %d", 2*piped)) {
		t.Fatalf("redis-cli --pipe: %s", out)
	}

	for _, a := range agents {
		a.terminate(t)
	}
	// The file sinks.
	got, gotValues := map[string]int64{}, map[string][]string{}
	for _, a := range agents {
		path := filepath.Join(filepath.Dir(a.config), a.name, "out.jsonl")
		f, err := os.Open(path)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var l struct {
				Store, Key string
				Count      int64
				Values     []string
			}
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("%s: %q: %v", path, sc.Text(), err)
			}
			got[l.Store+":"+l.Key] += l.Count
			gotValues[l.Store+":"+l.Key] = append(gotValues[l.Store+":"+l.Key], l.Values...)
		}
		f.Close()
	}
	// PostgreSQL.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	defer func() {
		_, _ = conn.Exec(context.Background(), fmt.Sprintf("DROP TABLE IF EXISTS %s, %s", counters, values))
	}()
	rows, err := conn.Query(ctx, fmt.Sprintf("SELECT store, key, count FROM %s", counters))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var store, key string
		var n int64
		if err := rows.Scan(&store, &key, &n); err != nil {
			t.Fatal(err)
		}
		got[store+":"+key] += n
	}
	rows, err = conn.Query(ctx, fmt.Sprintf("SELECT store, key, value FROM %s ORDER BY time, batch, position", values))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var store, key string
		var v []byte
		if err := rows.Scan(&store, &key, &v); err != nil {
			t.Fatal(err)
		}
		gotValues[store+":"+key] = append(gotValues[store+":"+key], string(v))
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}

	for _, store := range []string{"pageviews", "pv"} {
		if got[store+":/home"] != want[store] || got[store+":/home-cli"] != want[store] {
			t.Fatalf("%s: the sink holds /home = %d (redis-cli) and /home-cli = %d (hoard incr); both want %d",
				store, got[store+":/home"], got[store+":/home-cli"], want[store])
		}
	}
	for _, store := range []string{"events", "ev"} {
		a, b := fmt.Sprint(gotValues[store+":u1"]), fmt.Sprint(gotValues[store+":u1-cli"])
		if a != b || a != "[n1-a n1-b n2-a n2-b n3-a n3-b]" {
			t.Fatalf("%s: the sink holds u1 = %s (redis-cli) and u1-cli = %s (hoard insert)", store, a, b)
		}
	}
	if got["pv:piped"] != piped {
		t.Fatalf("pv:piped: the sink holds %d; %d were piped", got["pv:piped"], piped)
	}
	pv := gotValues["events:piped"]
	if len(pv) != piped {
		t.Fatalf("events:piped: the sink holds %d values; %d were piped", len(pv), piped)
	}
	for i, v := range pv {
		if v != fmt.Sprint(i) {
			t.Fatalf("events:piped: value %d is %s; want %d (order kept)", i, v, i)
		}
	}
}
