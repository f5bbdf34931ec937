package node_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/sinks"
	"github.com/hoard-dev/hoard/testcluster"
)

func TestFailingSinkIsRetriedThenDeadLettered(t *testing.T) {
	mem := sinks.NewMemory()
	const retryMax = 4
	c := testcluster.New(t, 1, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		cfg.Stores = []node.StoreConfig{{
			Name: "pageviews", Kind: node.KindCounter, Sink: mem, Interval: time.Hour,
			RetryMax: retryMax, RetryDelay: 40 * time.Millisecond,
		}}
	}})
	var mu sync.Mutex
	var attempts []time.Time
	mem.FailWith(func(sinks.Batch) error {
		mu.Lock()
		attempts = append(attempts, time.Now())
		mu.Unlock()
		return errors.New("database is down")
	})
	n := c.Node(0)
	ctx := ctxT(t)
	for i := range 5 {
		if err := n.Incr(ctx, "pageviews", fmt.Sprintf("k%d", i), int64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := n.Flush(ctx, "pageviews")
	if err == nil || res.DeadLettered != 1 {
		t.Fatalf("flush: %+v, %v; want one dead-lettered batch and an error", res, err)
	}
	mu.Lock()
	if len(attempts) != retryMax {
		t.Fatalf("sink tried %d times, want %d", len(attempts), retryMax)
	}
	var gaps []time.Duration
	for i := 1; i < len(attempts); i++ {
		gaps = append(gaps, attempts[i].Sub(attempts[i-1]))
	}
	mu.Unlock()
	for i := 1; i < len(gaps); i++ {
		// Each gap doubles, with +-20% jitter: the next is at least 1.2x.
		if gaps[i] < gaps[i-1]*6/5 {
			t.Fatalf("gaps do not grow: %v", gaps)
		}
	}
	t.Logf("gaps between attempts: %v", gaps)

	letters, err := n.DeadLetters("pageviews")
	if err != nil || len(letters) != 1 || letters[0].Keys != 5 || !strings.Contains(letters[0].Error, "database is down") {
		t.Fatalf("dead letters: %+v, %v", letters, err)
	}
	cl := dial(t, n.RPCAddr())
	listed, err := cl.DeadLetters(ctx, "")
	if err != nil || len(listed) != 1 || listed[0].Batch != letters[0].Batch {
		t.Fatalf("client dead letters: %+v, %v", listed, err)
	}

	// Still failing: replay keeps the letter.
	rr, err := cl.ReplayDeadLetters(ctx, "pageviews")
	if err != nil || len(rr.Replayed) != 0 || len(rr.Failed) != 1 {
		t.Fatalf("replay while failing: %+v, %v", rr, err)
	}
	// Sink back: replay delivers with the original batch ID and removes it.
	mem.FailWith(nil)
	rr, err = cl.ReplayDeadLetters(ctx, "")
	if err != nil || len(rr.Replayed) != 1 || rr.Replayed[0] != letters[0].Batch {
		t.Fatalf("replay: %+v, %v", rr, err)
	}
	batches := mem.Batches()
	if len(batches) != 1 || batches[0].ID != letters[0].Batch {
		t.Fatalf("sink got %+v, want batch %s", batches, letters[0].Batch)
	}
	got := mem.Counts("pageviews")
	for i := range 5 {
		if got[fmt.Sprintf("k%d", i)] != int64(i+1) {
			t.Fatalf("replayed counts: %v", got)
		}
	}
	if left, _ := n.DeadLetters(""); len(left) != 0 {
		t.Fatalf("dead letters left after replay: %+v", left)
	}
}

func TestSinkPanicIsRecovered(t *testing.T) {
	var calls atomic.Int64
	var panicking atomic.Bool
	panicking.Store(true)
	c := testcluster.New(t, 1, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		cfg.Stores = []node.StoreConfig{{
			Name: "pageviews", Kind: node.KindCounter, Interval: time.Hour, RetryMax: 2, RetryDelay: time.Millisecond,
			Sink: sinks.SinkFunc(func(context.Context, sinks.Batch) error {
				calls.Add(1)
				if panicking.Load() {
					panic("boom")
				}
				return nil
			}),
		}}
	}})
	t.Cleanup(func() { panicking.Store(false) }) // runs before the cluster's cleanup
	n := c.Node(0)
	ctx := ctxT(t)
	if err := n.Incr(ctx, "pageviews", "k", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Flush(ctx, ""); !errors.Is(err, node.ErrDeadLettered) || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("flush: %v", err)
	}
	if calls.Load() != 2 {
		t.Fatalf("sink called %d times", calls.Load())
	}
	if letters, _ := n.DeadLetters(""); len(letters) != 1 {
		t.Fatalf("dead letters: %+v", letters)
	}
	if err := n.Incr(ctx, "pageviews", "k", 1); err != nil {
		t.Fatalf("node unusable after a sink panic: %v", err)
	}
}
func TestPermanentSinkErrorIsDeadLetteredAtOnce(t *testing.T) {
	mem := sinks.NewMemory()
	c := testcluster.New(t, 1, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		cfg.Stores = []node.StoreConfig{{Name: "pageviews", Kind: node.KindCounter, Sink: mem, Interval: time.Hour, RetryMax: 5, RetryDelay: time.Millisecond}}
	}})
	mem.FailWith(func(sinks.Batch) error { return fmt.Errorf("%w: 400 Bad Request", sinks.ErrPermanent) })
	n := c.Node(0)
	ctx := ctxT(t)
	if err := n.Incr(ctx, "pageviews", "k", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Flush(ctx, ""); !errors.Is(err, node.ErrDeadLettered) {
		t.Fatalf("flush: %v", err)
	}
	if mem.Calls() != 1 {
		t.Fatalf("a permanent failure was tried %d times, want 1", mem.Calls())
	}
	mem.FailWith(nil)
}

func TestRetryAfterIsHonoured(t *testing.T) {
	mem := sinks.NewMemory()
	c := testcluster.New(t, 1, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		cfg.Stores = []node.StoreConfig{{Name: "pageviews", Kind: node.KindCounter, Sink: mem, Interval: time.Hour, RetryMax: 2, RetryDelay: time.Millisecond}}
	}})
	var mu sync.Mutex
	var attempts []time.Time
	mem.FailWith(func(sinks.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, time.Now())
		if len(attempts) == 1 {
			return &sinks.RetryAfterError{Err: errors.New("503 Service Unavailable"), After: 300 * time.Millisecond}
		}
		return nil
	})
	n := c.Node(0)
	ctx := ctxT(t)
	if err := n.Incr(ctx, "pageviews", "k", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Flush(ctx, ""); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) != 2 || attempts[1].Sub(attempts[0]) < 300*time.Millisecond {
		t.Fatalf("attempts %v: want a second one at least 300ms after the first", attempts)
	}
}
