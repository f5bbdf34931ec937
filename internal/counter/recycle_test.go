package counter

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/internal/flush"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/sinks"
)

// A take fills the Counts given back by Recycle instead of allocating.
// Recycle clears them, so that the last batch's keys are not kept alive
// (nor followed by the garbage collector) until the next take.
func TestTakeReusesRecycledCounts(t *testing.T) {
	s := New(4)
	addKeys(t, s, "k", 100, 1)
	first, _, _ := s.Take(false, nil)
	if len(first) != 100 {
		t.Fatalf("first take: %d keys, want 100", len(first))
	}
	s.Recycle(first)
	for i, c := range first {
		if c != (sinks.Count{}) {
			t.Fatalf("entry %d still holds %+v once recycled", i, c)
		}
	}
	addKeys(t, s, "j", 60, 2)
	second, _, _ := s.Take(false, nil)
	if len(second) != 60 {
		t.Fatalf("second take: %d keys, want 60", len(second))
	}
	if &second[0] != &first[0] {
		t.Fatal("the second take allocated: it did not reuse the recycled Counts")
	}
	for _, c := range sorted(second) {
		if c.Key[0] != 'j' || c.Count != 2 {
			t.Fatalf("second take holds %+v, want only j* keys counting 2", c)
		}
	}
	for i, c := range first[60:100] {
		if c != (sinks.Count{}) {
			t.Fatalf("entry %d past the second take still holds %+v", 60+i, c)
		}
	}
	// Without a recycled slice, a take allocates.
	if _, err := s.Add(0, "x", 1, nil); err != nil {
		t.Fatal(err)
	}
	third, _, _ := s.Take(false, nil)
	if &third[0] == &first[0] {
		t.Fatal("a take reused Counts that were not given back")
	}
}

// addKeys adds delta to n keys named prefix0, prefix1..., over s's four
// partitions.
func addKeys(t *testing.T, s *Store, prefix string, n int, delta int64) {
	t.Helper()
	for i := range n {
		if _, err := s.Add(i%4, fmt.Sprint(prefix, i), delta, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// keeper is a sink that keeps every batch, as sinks.Memory does; borrower
// is one that only reads them (a sinks.Borrower).
type keeper struct{ batches []sinks.Batch }

func (k *keeper) Flush(_ context.Context, b sinks.Batch) error {
	k.batches = append(k.batches, b)
	return nil
}

type borrower struct {
	keeper
	seen [][]sinks.Count // a copy of each batch's Counts as flushed
}

func (b *borrower) Flush(ctx context.Context, batch sinks.Batch) error {
	b.seen = append(b.seen, slices.Clone(batch.Counts))
	return b.keeper.Flush(ctx, batch)
}

func (*borrower) BorrowsBatches() {}

func testEngine(t *testing.T, sink sinks.Sink) *Engine {
	t.Helper()
	h := op.Host{
		Node: "n1", Partitions: 4, Stopping: t.Context(), Exposed: new(atomic.Int64),
		BatchID: func(store string, _ []sinks.Range) string { return store }, Go: func(f func()) bool { f(); return true },
	}
	return NewEngine(h, Config{Name: "pageviews", Interval: time.Hour, Flush: flush.Config{
		Store: "pageviews", Sink: sink, RetryMax: 1, RetryDelay: time.Millisecond,
		DeadLetters: flush.NewDeadLetters(t.TempDir()),
	}})
}

// Settled batches' memory is reused only when the sink is a Borrower: a
// sink that keeps batches finds them as they were after later flushes.
func TestEngineReusesBatchesOnlyOfBorrowers(t *testing.T) {
	flushKeys := func(t *testing.T, e *Engine, prefix string) {
		t.Helper()
		for i := range 50 {
			o := op.Op{Kind: op.Incr, Store: "pageviews", Key: fmt.Sprint(prefix, i), Delta: 1}
			if r, _ := e.Apply(&o, i%4, func(op.Result) {}); r.Err != nil {
				t.Fatal(r.Err)
			}
		}
		if _, err := e.Flush(context.Background(), flush.Due, nil); err != nil {
			t.Fatal(err)
		}
	}
	// twoFlushes flushes keys a0..a49, then b0..b49, into sink, which keeps
	// its batches in k, and returns them.
	twoFlushes := func(t *testing.T, sink sinks.Sink, k *keeper) []sinks.Batch {
		t.Helper()
		e := testEngine(t, sink)
		flushKeys(t, e, "a")
		flushKeys(t, e, "b")
		if len(k.batches) != 2 {
			t.Fatalf("%d batches, want 2", len(k.batches))
		}
		return k.batches
	}
	t.Run("keeper", func(t *testing.T) {
		k := &keeper{}
		batches := twoFlushes(t, k, k)
		for i, prefix := range []byte{'a', 'b'} {
			for _, c := range batches[i].Counts {
				if c.Key[0] != prefix || c.Count != 1 {
					t.Fatalf("batch %d holds %+v after a later flush, want only %c* keys", i, c, prefix)
				}
			}
		}
	})
	t.Run("borrower", func(t *testing.T) {
		b := &borrower{}
		batches := twoFlushes(t, b, &b.keeper)
		if &batches[0].Counts[0] != &batches[1].Counts[0] {
			t.Fatal("the second flush allocated its Counts: the borrower's first batch was not reused")
		}
		// The borrower saw each batch whole when it flushed; the Counts were
		// cleared once settled.
		if len(b.seen[1]) != 50 {
			t.Fatalf("second batch: %d keys, want 50", len(b.seen[1]))
		}
		for _, c := range b.seen[1] {
			if c.Key[0] != 'b' || c.Count != 1 {
				t.Fatalf("second batch holds %+v, want only b* keys", c)
			}
		}
	})
}
