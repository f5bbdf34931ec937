//go:build e2edocker

package docker

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/client"
)

// chaosNode is one container of a chaosCluster, at a fixed address of the
// test network.
type chaosNode struct {
	name      string // hoard's node name, n1...
	container string // hoard-chaos-n1-…
	ip        string
	rpc       string // ip:7373, advertised in the ring and dialled from the host
}

// chaosCluster is three hoard containers on a test network writing a
// counter store "pv" and a buffer store "ev" (ack = "replicated", the
// default, one backup) into fresh tables of the test's PostgreSQL,
// flushing every 5s.
type chaosCluster struct {
	net              *chaosNetwork
	nodes            []*chaosNode
	counters, values string
}

// startCluster starts the three containers, removed when t ends (their
// logs go to t's output first when t failed), and waits until each sees
// the three alive with the same ring.
func startCluster(t *testing.T, n *chaosNetwork, pg *postgres) *chaosCluster {
	t.Helper()
	var suffix [4]byte
	_, _ = crand.Read(suffix[:])
	c := &chaosCluster{
		net:      n,
		counters: "chaos_counters_" + hex.EncodeToString(suffix[:]),
		values:   "chaos_values_" + hex.EncodeToString(suffix[:]),
	}
	for i := range 3 {
		ip := fmt.Sprintf("%s%d", n.prefix, 11+i)
		name := fmt.Sprintf("n%d", i+1)
		c.nodes = append(c.nodes, &chaosNode{name: name, container: chaosName(name), ip: ip, rpc: ip + ":7373"})
	}
	dir := t.TempDir()
	for _, nd := range c.nodes {
		var join []string
		for _, o := range c.nodes {
			if o != nd {
				join = append(join, fmt.Sprintf("%q", o.ip+":7946"))
			}
		}
		cfg := fmt.Sprintf(`name      = %q
bind_addr = "%s:7946"
rpc_addr  = "%s:7373"
http_addr = "%s:8080"
join      = [%s]
data_dir  = "/data/%s"

sink "postgres" "pg" {
  dsn            = %q
  create_tables  = true
  counters_table = %q
  values_table   = %q
}
counter "pv" {
  sink     = "pg"
  interval = "5s"
}
buffer "ev" {
  sink     = "pg"
  interval = "5s"
}
`, nd.name, nd.ip, nd.ip, nd.ip, strings.Join(join, ", "), nd.name, pg.containerDSN, c.counters, c.values)
		path := filepath.Join(dir, nd.name+".hcl")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("--- log of %s (%s) ---\n%s", nd.name, nd.container, containerLog(nd.container))
			}
			dockerQuiet(t, "rm", "-f", "-v", nd.container)
		})
		docker(t, "run", "-d", "--name", nd.container, "--network", n.name, "--ip", nd.ip,
			"--label", "hoard-chaos=1", "--stop-timeout", "45",
			"-v", path+":/etc/hoard/hoard.hcl:ro", image)
	}
	c.waitConverged(t, c.nodes, 90*time.Second)
	return c
}

// containerLog returns the last lines of a container's output.
func containerLog(container string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "logs", "--tail", "300", container).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%s(docker logs: %v)", out, err)
	}
	return string(bytes.TrimSpace(out))
}

func (c *chaosCluster) rpcs() []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.rpc)
	}
	return out
}

// others returns the nodes but n.
func (c *chaosCluster) others(n *chaosNode) []*chaosNode {
	return slices.DeleteFunc(slices.Clone(c.nodes), func(o *chaosNode) bool { return o == n })
}

// callTimeout bounds one call to one node: a frozen or cut-off node
// answers nothing.
const callTimeout = 5 * time.Second

// with dials n alone (no ring: every call answered by n itself) and runs
// f, within callTimeout.
func with(n *chaosNode, f func(ctx context.Context, cl *client.Client) error) error {
	return withTimeout(n, callTimeout, f)
}

// withTimeout is with, within timeout.
func withTimeout(n *chaosNode, timeout time.Duration, f func(ctx context.Context, cl *client.Client) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cl, err := client.DialConfig(ctx, client.Config{Addrs: []string{n.rpc}, Forward: true})
	if err != nil {
		return fmt.Errorf("%s: %w", n.name, err)
	}
	defer cl.Close()
	if err := f(ctx, cl); err != nil {
		return fmt.Errorf("%s: %w", n.name, err)
	}
	return nil
}

// view is what one node says of the cluster.
type view struct {
	checksum uint64
	ring     []string          // the ring's members
	status   map[string]string // member: status/state, e.g. alive/alive
}

func (n *chaosNode) view() (view, error) {
	v := view{status: map[string]string{}}
	err := with(n, func(ctx context.Context, cl *client.Client) error {
		ms, err := cl.Members(ctx)
		if err != nil {
			return err
		}
		for _, m := range ms {
			v.status[m.Name] = m.Status + "/" + m.State
		}
		snap, err := cl.Ring(ctx)
		if err != nil {
			return err
		}
		v.checksum = snap.Checksum()
		for _, m := range snap.Members() {
			v.ring = append(v.ring, m.Name)
		}
		slices.Sort(v.ring)
		return nil
	})
	return v, err
}

// waitConverged waits until every node of live lists exactly live as
// alive members and ring members, and all have the same ring checksum,
// which it returns.
func (c *chaosCluster) waitConverged(t *testing.T, live []*chaosNode, timeout time.Duration) uint64 {
	t.Helper()
	var want []string
	for _, n := range live {
		want = append(want, n.name)
	}
	slices.Sort(want)
	var sum uint64
	waitFor(t, timeout, fmt.Sprintf("one view of %v on each of them", want), func() error {
		sums := map[uint64][]string{}
		for _, n := range live {
			v, err := n.view()
			if err != nil {
				return err
			}
			for _, o := range c.nodes {
				st, isLive := v.status[o.name], slices.Contains(want, o.name)
				if isLive && st != "alive/alive" {
					return fmt.Errorf("%s lists %s as %q", n.name, o.name, st)
				}
				if !isLive && strings.HasPrefix(st, "alive") {
					return fmt.Errorf("%s lists %s as %q", n.name, o.name, st)
				}
			}
			if !slices.Equal(v.ring, want) {
				return fmt.Errorf("%s's ring holds %v", n.name, v.ring)
			}
			sums[v.checksum] = append(sums[v.checksum], n.name)
		}
		if len(sums) != 1 {
			return fmt.Errorf("ring checksums differ: %v", sums)
		}
		for s := range sums {
			sum = s
		}
		return nil
	})
	return sum
}

// waitFailed waits until every node of observers lists victim as failed
// (or left) and has dropped it from its ring.
func (c *chaosCluster) waitFailed(t *testing.T, victim *chaosNode, observers []*chaosNode, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, "the others to declare "+victim.name+" failed", func() error {
		for _, n := range observers {
			v, err := n.view()
			if err != nil {
				return err
			}
			if st := v.status[victim.name]; strings.HasPrefix(st, "alive") {
				return fmt.Errorf("%s lists %s as %q", n.name, victim.name, st)
			}
			if slices.Contains(v.ring, victim.name) {
				return fmt.Errorf("%s's ring still holds %s", n.name, victim.name)
			}
		}
		return nil
	})
}

// info is each node's report, asked of n (which asks the live members).
func (n *chaosNode) info() (map[string]client.NodeInfo, error) {
	out := map[string]client.NodeInfo{}
	err := with(n, func(ctx context.Context, cl *client.Client) error {
		infos, err := cl.Info(ctx, "")
		if err != nil {
			return err
		}
		for _, i := range infos {
			out[i.Node] = i
		}
		return nil
	})
	return out, err
}

// unflushed waits until victim holds acknowledged ops not yet flushed
// (the writers run, so it does between two flushes), and returns how
// many: what a fault puts at risk.
func (c *chaosCluster) unflushed(t *testing.T, victim *chaosNode) int64 {
	t.Helper()
	var held int64
	waitFor(t, 30*time.Second, victim.name+" to hold unflushed ops (else the fault proves nothing)", func() error {
		infos, err := victim.info()
		if err != nil {
			return err
		}
		if held = infos[victim.name].Unflushed; held == 0 {
			return errors.New("it holds none")
		}
		return nil
	})
	return held
}

// waitFailover waits until a node of observers reports a failover flush
// ended after since, and returns when the last one ended.
func (c *chaosCluster) waitFailover(t *testing.T, observers []*chaosNode, since time.Time) time.Time {
	t.Helper()
	var last time.Time
	waitFor(t, 60*time.Second, "a failover flush on the survivors", func() error {
		infos, err := observers[0].info()
		if err != nil {
			return err
		}
		last = time.Time{}
		for _, n := range observers {
			i, ok := infos[n.name]
			if !ok || i.Error != "" {
				return fmt.Errorf("%s: no report (%s)", n.name, i.Error)
			}
			if i.LastFailover.After(last) {
				last = i.LastFailover
			}
		}
		if !last.After(since) {
			return errors.New("no failover flush yet")
		}
		return nil
	})
	return last
}

// settle flushes every store on every node until none holds anything
// unflushed, and returns the dead-lettered batches each node holds (a node
// that could not reach PostgreSQL for a while has some).
func (c *chaosCluster) settle(t *testing.T) map[string]int {
	t.Helper()
	waitFor(t, 90*time.Second, "every node to flush everything", func() error {
		// A flush writes to PostgreSQL: a minute.
		err := withTimeout(c.nodes[0], time.Minute, func(ctx context.Context, cl *client.Client) error {
			_, err := cl.Flush(ctx, "")
			return err
		})
		if err != nil {
			return err
		}
		infos, err := c.nodes[0].info()
		if err != nil {
			return err
		}
		for _, n := range c.nodes {
			if i := infos[n.name]; i.Unflushed != 0 || i.Error != "" {
				return fmt.Errorf("%s holds %d unflushed (%s)", n.name, i.Unflushed, i.Error)
			}
		}
		return nil
	})
	dead := map[string]int{}
	for _, n := range c.nodes {
		if err := with(n, func(ctx context.Context, cl *client.Client) error {
			dl, err := cl.DeadLetters(ctx, "")
			if len(dl) > 0 {
				dead[n.name] = len(dl)
			}
			return err
		}); err != nil {
			t.Errorf("dead letters: %v", err)
		}
	}
	return dead
}

// replayDeadLetters replays every node's dead-lettered batches and returns
// how many PostgreSQL accepted, and those it refused because another
// delivery (a backup's failover) applied part of their ranges: a zombie's
// aggregate over ops 1-23 of a partition whose backups delivered 1-22
// cannot be split, and is refused rather than counted twice. Any other
// failure fails t.
func (c *chaosCluster) replayDeadLetters(t *testing.T) (replayed int, overlapping []string) {
	t.Helper()
	for _, n := range c.nodes {
		if err := withTimeout(n, time.Minute, func(ctx context.Context, cl *client.Client) error {
			res, err := cl.ReplayDeadLetters(ctx, "")
			replayed += len(res.Replayed)
			for _, f := range res.Failed {
				// The replay reports each failure as text only.
				if strings.Contains(f, "partly applied by another delivery") {
					overlapping = append(overlapping, f)
				} else {
					t.Errorf("%s: dead-letter replay failed: %s", n.name, f)
				}
			}
			return err
		}); err != nil {
			t.Errorf("dead-letter replay: %v", err)
		}
	}
	return replayed, overlapping
}
