//go:build e2edocker

package docker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hoard-dev/hoard/client"
)

// writers are ring-aware clients on the host that alternate an increment
// of counter store "pv" and an insert of a unique value into buffer store
// "ev", over a set of keys, counting each op as acknowledged or, when its
// outcome is unknown, as maybe applied.
type writers struct {
	// mu guards acked, maybe and values.
	mu     sync.Mutex
	acked  map[string]int64 // increments acknowledged per key
	maybe  map[string]int64 // increments whose outcome is unknown per key
	values map[string]bool  // every value sent: true acknowledged, false unknown

	acks, unknown, failed atomic.Int64
	done                  chan struct{}
	wg                    sync.WaitGroup
}

// writerRate is the most ops per second one writer sends.
const writerRate = 300

// opTimeout bounds one op: an owner cut off or frozen answers nothing, and
// the op's outcome is then unknown.
const opTimeout = 10 * time.Second

// startWriters starts n writers over keys keys, seeded with the RPC
// addresses addrs; stop ends them (at the latest when t ends).
func startWriters(t *testing.T, n, keys int, addrs ...string) *writers {
	w := &writers{acked: map[string]int64{}, maybe: map[string]int64{}, values: map[string]bool{}, done: make(chan struct{})}
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
		} else {
			err = cl.Insert(ctx, "ev", key, []byte(value))
		}
		cancel()
		w.mu.Lock()
		switch {
		case err == nil && i%2 == 0:
			w.acked[key]++
			w.acks.Add(1)
		case err == nil:
			w.values[value] = true
			w.acks.Add(1)
		case errors.Is(err, client.ErrIndeterminate) || errors.Is(err, context.DeadlineExceeded):
			w.unknown.Add(1)
			if i%2 == 0 {
				w.maybe[key]++
			} else {
				w.values[value] = false // may or may not be there; never twice
			}
		default:
			w.failed.Add(1) // refused: not applied
		}
		w.mu.Unlock()
		if err != nil {
			time.Sleep(50 * time.Millisecond) // back off while the cluster changes; not synchronisation
		}
	}
}

// progress waits for n more acknowledged ops.
func (w *writers) progress(t *testing.T, n int64) {
	t.Helper()
	target := w.acks.Load() + n
	waitFor(t, 90*time.Second, "the writers to make progress", func() error {
		if got := w.acks.Load(); got < target {
			return fmt.Errorf("%d acks, want %d (%d unknown, %d refused)", got, target, w.unknown.Load(), w.failed.Load())
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

// sinkReport compares what PostgreSQL holds with what writers were told.
type sinkReport struct {
	incrs, lost, doubled int64    // acknowledged increments, and those missing or counted twice
	values, lostValues   int      // acknowledged values, and those missing
	doubledValues        []string // values PostgreSQL holds more than once
	strayValues          []string // values PostgreSQL holds that were refused
	maybeIncrs           int64    // increments of unknown outcome
	maybeValues          int      // values of unknown outcome
	maybeApplied         int64    // of those, how many PostgreSQL holds (each at most once)
}

// ok reports whether every acknowledged op is there exactly once.
func (r sinkReport) ok() bool {
	return r.lost == 0 && r.doubled == 0 && r.lostValues == 0 && len(r.doubledValues) == 0 && len(r.strayValues) == 0
}

func (r sinkReport) String() string {
	return fmt.Sprintf("%d acknowledged increments (lost %d, doubled %d), %d acknowledged values (lost %d, twice %d, refused yet there %d); unknown outcome: %d increments and %d values, of which %d applied",
		r.incrs, r.lost, r.doubled, r.values, r.lostValues, len(r.doubledValues), len(r.strayValues), r.maybeIncrs, r.maybeValues, r.maybeApplied)
}

// checkSink reads the counters and values tables and compares them, per
// key, with what wr was acknowledged: an op whose outcome wr does not know
// may be there once or not at all.
func checkSink(t *testing.T, dsn, counters, values string, wr *writers) sinkReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	got := map[string]int64{}
	rows, err := conn.Query(ctx, fmt.Sprintf("SELECT key, count FROM %s WHERE store = 'pv'", counters))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		var c int64
		if err := rows.Scan(&k, &c); err != nil {
			t.Fatal(err)
		}
		got[k] = c
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	seen := map[string]int{}
	rows, err = conn.Query(ctx, fmt.Sprintf("SELECT value FROM %s WHERE store = 'ev'", values))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v []byte
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		seen[string(v)]++
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}

	wr.mu.Lock()
	defer wr.mu.Unlock()
	var r sinkReport
	keys := map[string]bool{}
	for k := range wr.acked {
		keys[k] = true
	}
	for k := range wr.maybe {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	for k := range keys {
		acked, maybe := wr.acked[k], wr.maybe[k]
		r.incrs += acked
		r.maybeIncrs += maybe
		switch {
		case got[k] < acked:
			r.lost += acked - got[k]
		case got[k] > acked+maybe:
			r.doubled += got[k] - acked - maybe
			r.maybeApplied += maybe
		default:
			r.maybeApplied += got[k] - acked
		}
	}
	for v, sure := range wr.values {
		switch {
		case sure:
			r.values++
			if seen[v] == 0 {
				r.lostValues++
			}
		default:
			r.maybeValues++
			if seen[v] > 0 {
				r.maybeApplied++
			}
		}
	}
	for v, n := range seen {
		if n > 1 {
			r.doubledValues = append(r.doubledValues, v)
		}
		if _, sent := wr.values[v]; !sent {
			r.strayValues = append(r.strayValues, v)
		}
	}
	slices.Sort(r.doubledValues)
	slices.Sort(r.strayValues)
	return r
}
