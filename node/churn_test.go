package node_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/client"
	"github.com/hoard-dev/hoard/internal/ledger"
	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/sinks"
	"github.com/hoard-dev/hoard/testcluster"
)

// TestChurnUnderLoad sends increments and inserts continuously through all
// nodes while the cluster grows from 3 to 5 nodes, shrinks back to 3 by
// graceful leaves, and restarts its three original nodes one by one. No
// acknowledged op is lost and none is counted twice: per key the sink holds
// the acknowledged sum (plus at most the increments whose outcome the
// client was told is unknown), and every acknowledged value exactly once.
func TestChurnUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("churn takes a while")
	}
	mem := sinks.NewMemory()
	c := testcluster.New(t, 3, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		cfg.Stores = []node.StoreConfig{
			{Name: "pv", Kind: node.KindCounter, Sink: mem, Interval: 200 * time.Millisecond},
			{Name: "ev", Kind: node.KindBuffer, Sink: mem, Interval: 200 * time.Millisecond},
		}
	}})
	led := ledger.New()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() { churnWriter(t, c, led, w, stop) })
	}
	waitAcks := func(n int64) {
		t.Helper()
		target := led.Acks() + n
		testcluster.WaitFor(t, 30*time.Second, fmt.Sprintf("%d more acknowledged ops", n), func() error {
			if got := led.Acks(); got < target {
				return fmt.Errorf("writers stalled: %d acks, want %d", got, target)
			}
			return nil
		})
	}
	waitAcks(500)
	for range 2 { // 3 -> 5
		c.Add()
		c.WaitConverged()
		waitAcks(500)
	}
	for _, i := range []int{4, 3} { // 5 -> 3, graceful
		c.Leave(i)
		c.WaitConverged()
		waitAcks(500)
	}
	for i := range 3 { // rolling restart
		c.Leave(i)
		c.WaitConverged()
		c.Restart(i)
		c.WaitConverged()
		waitAcks(500)
	}
	close(stop)
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, c.RPCAddrs()...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Flush(ctx, ""); err != nil {
		t.Fatal(err)
	}

	rows := map[string]int{}
	for _, vs := range mem.Values("ev") {
		for _, v := range vs {
			rows[string(v)]++
		}
	}
	if rep := led.Compare(mem.Counts("pv"), rows); !rep.OK() {
		t.Errorf("the sink does not hold the acknowledged ops exactly once: %v", rep)
	}
	t.Logf("%d acknowledged ops, %d with an unknown outcome", led.Acks(), led.Unknown())
}

// churnWriter alternates increments and inserts until stop, re-dialling the
// live nodes when its client has none left.
func churnWriter(t *testing.T, c *testcluster.Cluster, led *ledger.Ledger, w int, stop <-chan struct{}) {
	var cl *client.Client
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		if cl == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			var err error
			cl, err = client.Dial(ctx, c.RPCAddrs()...)
			cancel()
			if err != nil {
				continue // the cluster is mid-change; try again
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		key := fmt.Sprintf("k%d", (i*7+w)%50)
		var err error
		value := fmt.Sprintf("w%d-%d", w, i)
		if i%2 == 0 {
			err = cl.Incr(ctx, "pv", key, 1)
			led.Incr(key, err)
		} else {
			err = cl.Insert(ctx, "ev", key, []byte(value))
			led.Insert(value, err)
		}
		cancel()
		if errors.Is(err, client.ErrUnavailable) || errors.Is(err, client.ErrShuttingDown) {
			cl.Close()
			cl = nil
		}
	}
}

// TestCrashLosesOnlyTheUnflushed kills one of three nodes under load, its
// store acknowledging in memory: the survivors own every partition within
// the failure-detection time, and what is lost is at most what the victim
// held unflushed when it died.
func TestCrashLosesOnlyTheUnflushed(t *testing.T) {
	mem := sinks.NewMemory()
	c := testcluster.New(t, 3, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		cfg.Stores = []node.StoreConfig{{Name: "pv", Kind: node.KindCounter, Sink: mem, Interval: time.Hour, Ack: node.AckMemory}}
	}})
	led := ledger.New() // the acknowledged increments only: one that failed must not be in the sink either
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var errsAfterConverge atomic.Int64
	var converged atomic.Bool
	for w := range 4 {
		wg.Go(func() {
			cl := dial(t, c.RPCAddrs()...)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("k%d", (i*4+w)%200)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := cl.Incr(ctx, "pv", key, 1)
				cancel()
				if err == nil {
					led.Incr(key, nil)
				} else if converged.Load() {
					errsAfterConverge.Add(1)
				}
			}
		})
	}
	testcluster.WaitFor(t, 20*time.Second, "3000 acknowledged increments", func() error {
		if got := led.Acks(); got < 3000 {
			return fmt.Errorf("writers stalled: %d acks", got)
		}
		return nil
	})
	victim := c.Node(2)
	c.Kill(2)
	killed := time.Now()
	exposed := victim.Stats().Unflushed // what it held when it died
	c.WaitConverged()
	detected := time.Since(killed)
	converged.Store(true)
	target := led.Acks() + 2000
	testcluster.WaitFor(t, 20*time.Second, "2000 more acknowledged increments after the crash", func() error {
		if got := led.Acks(); got < target {
			return fmt.Errorf("writers stalled after the crash: %d acks, want %d", got, target)
		}
		return nil
	})
	close(stop)
	wg.Wait()
	flushAll(t, c)
	rep := led.Compare(mem.Counts("pv"), nil)
	if rep.Doubled > 0 {
		t.Errorf("%d increments counted twice: %v", rep.Doubled, rep)
	}
	lost := rep.Lost
	if lost > exposed {
		t.Fatalf("lost %d increments, more than the %d the victim held unflushed", lost, exposed)
	}
	if n := errsAfterConverge.Load(); n > 0 {
		t.Fatalf("%d client errors after the survivors took over", n)
	}
	t.Logf("survivors owned every partition %s after the kill; lost %d acknowledged increments, victim held %d unflushed", detected.Round(10*time.Millisecond), lost, exposed)
}
