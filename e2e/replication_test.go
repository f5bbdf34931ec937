//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/client"
	"github.com/hoard-dev/hoard/testcluster"
)

// TestOwnerLostForGood kills one of three agents with SIGKILL while writers
// run on all of them (PostgreSQL sink, counters and buffers with the
// default ack = "replicated", flushing every 5s) and never restarts it:
// its backups deliver what it had not flushed once it is declared failed.
// PostgreSQL must then hold every acknowledged increment and value exactly
// once. The second case freezes the victim (SIGSTOP) for longer than the
// failure detection, lets its backups deliver its ops, then resumes it (a
// zombie owner that flushes what it held): still exactly once.
func TestOwnerLostForGood(t *testing.T) {
	dsn := testcluster.PostgresDSN(t)
	t.Run("sigkill, never restarted", func(t *testing.T) { loseOwner(t, dsn, false) })
	t.Run("sigstop past failure detection, then resumed", func(t *testing.T) { loseOwner(t, dsn, true) })
}

func loseOwner(t *testing.T, dsn string, zombie bool) {
	agents, counters, values := startPGAgents(t, dsn, "", "")
	victim, survivor := agents[1], agents[0]
	wr := startWriters(t, 4, 200, agents[0].rpc, agents[1].rpc, agents[2].rpc)
	progress := func() { wr.progress(t, 2000) }
	progress()
	progress()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := client.Dial(ctx, survivor.rpc)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	held := unflushed(ctx, cl, victim.name)
	sig := syscall.SIGKILL
	if zombie {
		sig = syscall.SIGSTOP
	}
	if err := victim.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	// Every survivor that held the victim's ops delivers them: wait until
	// they hold none and one of them reports a failover.
	var lastFailover time.Time
	waitFor(t, 60*time.Second, "the survivors to deliver the victim's ops", func() error {
		ictx, icancel := context.WithTimeout(ctx, 3*time.Second) // a frozen victim answers nothing
		defer icancel()
		infos, err := cl.Info(ictx, "")
		if err != nil {
			return err
		}
		lastFailover = time.Time{}
		for _, n := range infos {
			if n.Node == victim.name {
				continue
			}
			if n.Error != "" {
				return fmt.Errorf("%s: %s", n.Node, n.Error)
			}
			if n.LastFailover.After(lastFailover) {
				lastFailover = n.LastFailover
			}
		}
		if !lastFailover.After(stoppedAt) {
			return fmt.Errorf("no failover since the victim stopped")
		}
		return nil
	})
	var fromMetrics float64
	for _, a := range agents {
		if a != victim {
			fromMetrics += metric(t, a, "hoard_failover_flushes_total")
		}
	}
	if fromMetrics == 0 {
		t.Errorf("the survivors' /metrics count no failover flush")
	}
	progress() // the survivors serve the victim's keys
	if zombie {
		if err := victim.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		waitAlive(t, survivor, 3)
		progress()
	}
	wr.stop()
	for _, a := range agents {
		if a == victim && !zombie {
			continue
		}
		a.terminate(t)
	}
	if held == 0 {
		t.Errorf("the victim held nothing unflushed when it stopped: the test proved nothing")
	}
	rep, _ := checkSink(t, dsn, counters, values, wr)
	if !rep.OK() {
		t.Errorf("PostgreSQL does not hold the acknowledged ops exactly once: %v", rep)
	}
	t.Logf("%d acknowledged ops (%d increments, %d values), %d with an unknown outcome; the victim held %d unflushed when it got %v; last failover flush %.1fs later; lost %d increments and %d values, doubled %d increments and %d values",
		wr.Acks(), rep.Incrs, rep.Values, wr.Unknown(), held, sig, lastFailover.Sub(stoppedAt).Seconds(), rep.Lost, len(rep.MissingValues), rep.Doubled, len(rep.DoubledValues))
}

// metric sums the samples of the metric called name on a's /metrics.
func metric(t *testing.T, a *agent, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + a.http + "/metrics")
	if err != nil {
		t.Fatalf("%s /metrics: %v", a.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s /metrics: %v", a.name, err)
	}
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Fatalf("%s /metrics: %q: %v", a.name, line, err)
			}
			sum += v
		}
	}
	return sum
}

// unflushed is what node holds unflushed, as the cluster reports it.
func unflushed(ctx context.Context, cl *client.Client, node string) int64 {
	infos, err := cl.Info(ctx, "")
	if err != nil {
		return 0
	}
	for _, n := range infos {
		if n.Node == node {
			return n.Unflushed
		}
	}
	return 0
}
