//go:build e2edocker

package docker

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestChaos runs each fault against a fresh cluster of three containers on
// a private network, with four ring-aware writers on the host over 200
// keys (counter increments and buffer values alternately; ack =
// "replicated", flushing every 5s into PostgreSQL on the host, which the
// containers reach through the network's gateway). After each fault, with
// the writers stopped, every live node must list the same members alive
// and hold the same ring (checksum), and, once everything is flushed,
// PostgreSQL must hold per key every acknowledged op exactly once, and
// each op of unknown outcome at most once.
func TestChaos(t *testing.T) {
	needDocker(t)
	began := time.Now()
	n := newNetwork(t)
	pg := startPostgres(t, n)
	var figures []string
	for _, tc := range []struct {
		name  string
		fault func(t *testing.T, c *chaosCluster, wr *writers) string
	}{
		{"sigkill_then_restart", sigkillThenRestart},
		{"pause_past_failure_detection", pausePastFailureDetection},
		{"network_disconnect_60s", networkDisconnect},
		{"rolling_restart", rollingRestart},
	} {
		t.Run(tc.name, func(t *testing.T) {
			began := time.Now()
			c := startCluster(t, n, pg)
			wr := startWriters(t, 4, 200, c.rpcs()...)
			wr.progress(t, 2000)
			what := tc.fault(t, c, wr)
			wr.stop()
			sum := c.waitConverged(t, c.nodes, 90*time.Second)
			dead := c.settle(t)
			rep := checkSink(t, pg.hostDSN, c.counters, c.values, wr)
			if !rep.OK() {
				t.Errorf("PostgreSQL does not hold every acknowledged op exactly once: %s", rep)
			}
			deadNote := "no dead-lettered batch"
			if len(dead) > 0 {
				// Batches a node could not deliver at the time (PostgreSQL out
				// of its reach): the acknowledged ops they hold were delivered
				// by another, so a replay must not count them again; only ops
				// of unknown outcome may appear, once.
				replayed, overlapping := c.replayDeadLetters(t)
				for _, o := range overlapping {
					t.Logf("dead letter refused by the sink: %s", o)
				}
				again := checkSink(t, pg.hostDSN, c.counters, c.values, wr)
				if !again.OK() {
					t.Errorf("after replaying the dead-lettered batches: %s (before: %s)", again, rep)
				}
				deadNote = fmt.Sprintf("dead-lettered batches %v, %d replayed and %d refused as partly applied by another delivery, after which PostgreSQL still holds every acknowledged op once (%d ops of unknown outcome applied, %d before)",
					dead, replayed, len(overlapping), again.MaybeApplied, rep.MaybeApplied)
			}
			line := fmt.Sprintf("%s: %d ops acknowledged, %d of unknown outcome, %d refused; %s; %s; %s; one ring (checksum %016x) on the three; %.0fs",
				tc.name, wr.Acks(), wr.Unknown(), wr.Refused(), what, rep, deadNote, sum, time.Since(began).Seconds())
			t.Log(line)
			figures = append(figures, line)
		})
	}
	t.Logf("figures (%.0fs in all):\n%s", time.Since(began).Seconds(), strings.Join(figures, "\n"))
}

// detectTimeout bounds how long the others take to declare a silent node
// failed (memberlist's LAN settings: about 5s) on a loaded machine.
const detectTimeout = 60 * time.Second

// sigkillThenRestart: SIGKILL n2 under writers; the others declare it
// failed and its backups deliver what it held; the writers go on against
// the two; then the same container starts again (its data_dir kept, a new
// incarnation) and rejoins.
func sigkillThenRestart(t *testing.T, c *chaosCluster, wr *writers) string {
	victim := c.nodes[1]
	held := c.unflushed(t, victim)
	docker(t, "kill", "--signal", "KILL", victim.container)
	at := time.Now()
	c.waitFailed(t, victim, c.others(victim), detectTimeout)
	detected := time.Since(at)
	failover := c.waitFailover(t, c.others(victim), at)
	wr.progress(t, 2000)
	docker(t, "start", victim.container)
	restarted := time.Now()
	c.waitConverged(t, c.nodes, 90*time.Second)
	rejoined := time.Since(restarted)
	wr.progress(t, 1000)
	return fmt.Sprintf("%s held %d unflushed ops when SIGKILLed, declared failed after %.1fs, failover flush done %.1fs after the kill, restarted and in one ring again %.1fs after its start",
		victim.name, held, detected.Seconds(), failover.Sub(at).Seconds(), rejoined.Seconds())
}

// pausePastFailureDetection: freeze n2 (docker pause: the cgroup freezer)
// until the others have declared it failed and delivered what it held,
// then thaw it: a zombie owner that still holds those ops and flushes
// them, while the sink's positions keep them from counting twice.
func pausePastFailureDetection(t *testing.T, c *chaosCluster, wr *writers) string {
	victim := c.nodes[1]
	held := c.unflushed(t, victim)
	docker(t, "pause", victim.container)
	at := time.Now()
	c.waitFailed(t, victim, c.others(victim), detectTimeout)
	detected := time.Since(at)
	failover := c.waitFailover(t, c.others(victim), at)
	wr.progress(t, 2000)
	docker(t, "unpause", victim.container)
	frozen := time.Since(at)
	thawed := time.Now()
	c.waitConverged(t, c.nodes, 90*time.Second)
	rejoined := time.Since(thawed)
	wr.progress(t, 1000)
	return fmt.Sprintf("%s held %d unflushed ops when frozen, declared failed after %.1fs, failover flush done %.1fs after the freeze, thawed after %.1fs and in one ring again %.1fs later",
		victim.name, held, detected.Seconds(), failover.Sub(at).Seconds(), frozen.Seconds(), rejoined.Seconds())
}

// cutOff is how long networkDisconnect keeps its victim off the network.
const cutOff = 60 * time.Second

// networkDisconnect: take n2 off the network for a minute (its address
// gone: no writer on the host, no peer and not PostgreSQL reaches it, nor
// it them), then put it back at the same address. The others declare it
// failed and deliver what it held; it declares them failed and, alone,
// owns every partition, but nothing reaches it to write there; on its
// return it rejoins and flushes what it still held, which the sink's
// positions turn away.
func networkDisconnect(t *testing.T, c *chaosCluster, wr *writers) string {
	victim := c.nodes[1]
	held := c.unflushed(t, victim)
	docker(t, "network", "disconnect", c.net.name, victim.container)
	at := time.Now()
	c.waitFailed(t, victim, c.others(victim), detectTimeout)
	detected := time.Since(at)
	failover := c.waitFailover(t, c.others(victim), at)
	wr.progress(t, 2000)
	time.Sleep(time.Until(at.Add(cutOff))) // the scenario: a minute off the network
	docker(t, "network", "connect", "--ip", victim.ip, c.net.name, victim.container)
	back := time.Now()
	c.waitConverged(t, c.nodes, 90*time.Second)
	rejoined := time.Since(back)
	wr.progress(t, 1000)
	return fmt.Sprintf("%s held %d unflushed ops when cut off, declared failed after %.1fs, failover flush done %.1fs after the cut, reconnected after %.0fs and in one ring again %.1fs later",
		victim.name, held, detected.Seconds(), failover.Sub(at).Seconds(), back.Sub(at).Seconds(), rejoined.Seconds())
}

// rollingRestart: one node at a time, `docker stop -t 45` (SIGTERM: a
// graceful leave that flushes, then exit 0), start it again, wait for the
// three to share one ring, and let the writers make progress.
func rollingRestart(t *testing.T, c *chaosCluster, wr *writers) string {
	var steps []string
	for _, n := range c.nodes {
		held := c.unflushed(t, n)
		at := time.Now()
		docker(t, "stop", "--time", "45", n.container)
		stopped := time.Since(at)
		if code := docker(t, "inspect", "--format", "{{.State.ExitCode}}", n.container); code != "0" {
			t.Fatalf("%s exited with status %s after SIGTERM, want 0", n.name, code)
		}
		docker(t, "start", n.container)
		started := time.Now()
		c.waitConverged(t, c.nodes, 90*time.Second)
		steps = append(steps, fmt.Sprintf("%s (held %d, stopped in %.1fs, one ring again %.1fs after its start)",
			n.name, held, stopped.Seconds(), time.Since(started).Seconds()))
		wr.progress(t, 1000)
	}
	return "restarted " + strings.Join(steps, ", ")
}
