//go:build e2edocker

package docker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hoard-dev/hoard/client"
	"github.com/hoard-dev/hoard/internal/ledger"
)

// writers are ring-aware clients on the host that alternate an increment
// of counter store "pv" and an insert of a unique value into buffer store
// "ev", over a set of keys, recording how each op ended in their ledger.
type writers struct {
	*ledger.Ledger
	done chan struct{}
	wg   sync.WaitGroup
}

// writerRate is the most ops per second one writer sends.
const writerRate = 300

// opTimeout bounds one op: an owner cut off or frozen answers nothing, and
// the op's outcome is then unknown.
const opTimeout = 10 * time.Second

// startWriters starts n writers over keys keys, seeded with the RPC
// addresses addrs; stop ends them (at the latest when t ends).
func startWriters(t *testing.T, n, keys int, addrs ...string) *writers {
	w := &writers{Ledger: ledger.New(), done: make(chan struct{})}
	for id := range n {
		w.wg.Go(func() { w.run(t, id, n, keys, addrs) })
	}
	t.Cleanup(w.stop)
	return w
}

func (w *writers) run(t *testing.T, id, n, keys int, addrs []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	cl, err := client.Dial(ctx, addrs...)
	cancel()
	if err != nil {
		t.Errorf("writer %d: dial: %v", id, err)
		return
	}
	defer cl.Close()
	next := time.Now()
	for i := 0; ; i++ {
		select {
		case <-w.done:
			return
		default:
		}
		// Pace: the machine is shared, and the faults, not the load, are
		// under test.
		next = next.Add(time.Second / writerRate)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		} else if d < -time.Second {
			next = time.Now()
		}
		key := fmt.Sprintf("k%d", (i*n+id)%keys)
		value := fmt.Sprintf("w%d-%d", id, i)
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		if i%2 == 0 {
			err = cl.Incr(ctx, "pv", key, 1)
			w.Incr(key, err)
		} else {
			err = cl.Insert(ctx, "ev", key, []byte(value))
			w.Insert(value, err)
		}
		cancel()
		if err != nil {
			time.Sleep(50 * time.Millisecond) // back off while the cluster changes; not synchronisation
		}
	}
}

// progress waits for n more acknowledged ops.
func (w *writers) progress(t *testing.T, n int64) {
	t.Helper()
	target := w.Acks() + n
	waitFor(t, 90*time.Second, "the writers to make progress", func() error {
		if got := w.Acks(); got < target {
			return fmt.Errorf("%d acks, want %d (%d unknown, %d refused)", got, target, w.Unknown(), w.Refused())
		}
		return nil
	})
}

// stop ends the writers and waits for them. Idempotent.
func (w *writers) stop() {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
	w.wg.Wait()
}

// checkSink reads the counters and values tables and sets wr's ledger
// against them: an op whose outcome wr does not know may be there once or
// not at all.
func checkSink(t *testing.T, dsn, counters, values string, wr *writers) ledger.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	counts, rows, err := ledger.ReadPostgres(ctx, conn, counters, "pv", values, "ev")
	if err != nil {
		t.Fatal(err)
	}
	return wr.Compare(counts, rows)
}
