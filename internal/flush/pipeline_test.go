package flush_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/internal/flush"
	"github.com/hoard-dev/hoard/sinks"
)

// scripted is a sink whose n-th call (from 1) returns fail(n, ctx); it
// records the IDs it accepted.
type scripted struct {
	fail func(n int, ctx context.Context) error

	// mu guards calls and accepted.
	mu       sync.Mutex
	calls    int
	accepted []string
}

func (s *scripted) Flush(ctx context.Context, b sinks.Batch) error {
	s.mu.Lock()
	s.calls++
	n := s.calls
	s.mu.Unlock()
	if s.fail != nil {
		if err := s.fail(n, ctx); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accepted = append(s.accepted, b.ID)
	return nil
}

func (s *scripted) state() (calls int, accepted []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, slices.Clone(s.accepted)
}

func TestFlush(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(*flush.Config)
		fail      func(n int, ctx context.Context) error
		keys      []string // the batch taken; none: nothing to flush
		want      flush.Result
		wantCalls int
		wantErr   []error // each must match errors.Is; nil: no error
		wantText  string  // in the error
		wantStats flush.Stats
	}{
		{
			name: "delivered", keys: []string{"a", "b"},
			want: flush.Result{Batches: 1, Keys: 2}, wantCalls: 1,
			wantStats: flush.Stats{Flushes: 1},
		},
		{
			name: "nothing to flush",
		},
		{
			name: "retried then delivered", keys: []string{"a"},
			fail: func(n int, _ context.Context) error {
				if n < 3 {
					return errUnavailable
				}
				return nil
			},
			want: flush.Result{Batches: 1, Keys: 1}, wantCalls: 3,
			wantStats: flush.Stats{Flushes: 1, Failures: 2},
		},
		{
			name: "retries exhausted", keys: []string{"a"},
			fail: func(int, context.Context) error { return errUnavailable },
			want: flush.Result{DeadLettered: 1}, wantCalls: 3,
			wantErr:   []error{flush.ErrDeadLettered, errUnavailable},
			wantStats: flush.Stats{Failures: 3, DeadLettered: 1},
		},
		{
			name: "permanent error", keys: []string{"a"},
			fail: func(int, context.Context) error { return fmt.Errorf("%w: 400 Bad Request", sinks.ErrPermanent) },
			want: flush.Result{DeadLettered: 1}, wantCalls: 1,
			wantErr:   []error{flush.ErrDeadLettered, sinks.ErrPermanent},
			wantStats: flush.Stats{Failures: 1, DeadLettered: 1},
		},
		{
			name: "sink panic", keys: []string{"a"},
			edit: func(c *flush.Config) { c.RetryMax = 1 },
			fail: func(int, context.Context) error { panic("boom") },
			want: flush.Result{DeadLettered: 1}, wantCalls: 1,
			wantErr: []error{flush.ErrDeadLettered}, wantText: "sink panicked: boom",
			wantStats: flush.Stats{Failures: 1, DeadLettered: 1},
		},
		{
			name: "flush timeout cancels a hanging sink", keys: []string{"a"},
			edit: func(c *flush.Config) { c.RetryMax, c.FlushTimeout = 1, 10*time.Millisecond },
			fail: func(_ int, ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
			want: flush.Result{DeadLettered: 1}, wantCalls: 1,
			wantErr:   []error{flush.ErrDeadLettered, context.DeadlineExceeded},
			wantStats: flush.Stats{Failures: 1, DeadLettered: 1},
		},
		{
			name: "zero flush timeout sets no deadline", keys: []string{"a"},
			edit: func(c *flush.Config) { c.FlushTimeout = 0 },
			fail: noDeadline,
			want: flush.Result{Batches: 1, Keys: 1}, wantCalls: 1,
			wantStats: flush.Stats{Flushes: 1},
		},
		{
			name: "negative flush timeout sets no deadline", keys: []string{"a"},
			edit: func(c *flush.Config) { c.FlushTimeout = -1 },
			fail: noDeadline,
			want: flush.Result{Batches: 1, Keys: 1}, wantCalls: 1,
			wantStats: flush.Stats{Flushes: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &scripted{fail: tt.fail}
			e := newEnv(t, sink, tt.edit)
			if len(tt.keys) > 0 {
				e.src.add(tt.keys...)
			}
			res, err := e.p.Flush(context.Background(), flush.All, nil)
			if res != tt.want {
				t.Errorf("result %+v, want %+v", res, tt.want)
			}
			checkErr(t, err, tt.wantErr, tt.wantText)
			if calls, _ := sink.state(); calls != tt.wantCalls {
				t.Errorf("%d sink calls, want %d", calls, tt.wantCalls)
			}
			st := e.p.Stats()
			if st.Flushes > 0 == st.LastFlush.IsZero() {
				t.Errorf("last flush %v after %d flushes", st.LastFlush, st.Flushes)
			}
			st.LastFlush = time.Time{}
			if st != tt.wantStats {
				t.Errorf("stats %+v, want %+v", st, tt.wantStats)
			}
			// Delivered or dead-lettered, the batch left memory.
			held, settled := e.src.state()
			if held != 0 || len(settled) != min(len(tt.keys), 1) {
				t.Errorf("held %d ops, settled %v", held, settled)
			}
			if n := len(e.letters(t)); n != tt.want.DeadLettered {
				t.Errorf("%d dead letters, want %d", n, tt.want.DeadLettered)
			}
		})
	}
}

func noDeadline(_ int, ctx context.Context) error {
	if d, ok := ctx.Deadline(); ok {
		return fmt.Errorf("%w: deadline %v", sinks.ErrPermanent, d)
	}
	return nil
}

// checkErr fails t unless err matches every one of want (none: err is nil)
// and contains text.
func checkErr(t *testing.T, err error, want []error, text string) {
	t.Helper()
	if len(want) == 0 && err != nil {
		t.Errorf("error %v, want none", err)
	}
	for _, w := range want {
		if !errors.Is(err, w) {
			t.Errorf("error %v, want one matching %v", err, w)
		}
	}
	if text != "" && (err == nil || !strings.Contains(err.Error(), text)) {
		t.Errorf("error %v, want it to say %q", err, text)
	}
}

func TestFlushPassesModeAndPartitions(t *testing.T) {
	for _, mode := range []flush.Mode{flush.Due, flush.All, flush.Final} {
		t.Run(mode.String(), func(t *testing.T) {
			e := newEnv(t, sinks.NewMemory(), nil)
			if _, err := e.p.Flush(context.Background(), mode, []int{3, 7}); err != nil {
				t.Fatal(err)
			}
			modes, only := e.src.takeCalls()
			if !slices.Equal(modes, []flush.Mode{mode}) || len(only) != 1 || !slices.Equal(only[0], []int{3, 7}) {
				t.Errorf("Take got modes %v, partitions %v", modes, only)
			}
		})
	}
}

func TestDeadLetterRecordsAttemptsMade(t *testing.T) {
	tests := []struct {
		name     string
		retryMax int
		mode     flush.Mode
		fail     func(cancel context.CancelFunc) func(int, context.Context) error
		want     int
	}{
		{
			name: "permanent error: one attempt", retryMax: 5, mode: flush.All, want: 1,
			fail: func(context.CancelFunc) func(int, context.Context) error {
				return func(int, context.Context) error { return fmt.Errorf("%w: 400 Bad Request", sinks.ErrPermanent) }
			},
		},
		{
			name: "retries exhausted: every attempt", retryMax: 3, mode: flush.All, want: 3,
			fail: func(context.CancelFunc) func(int, context.Context) error {
				return func(int, context.Context) error { return errUnavailable }
			},
		},
		{
			name: "no retry", retryMax: 1, mode: flush.All, want: 1,
			fail: func(context.CancelFunc) func(int, context.Context) error {
				return func(int, context.Context) error { return errUnavailable }
			},
		},
		{
			name: "final flush stopped mid-retry", retryMax: 5, mode: flush.Final, want: 2,
			fail: func(cancel context.CancelFunc) func(int, context.Context) error {
				return func(n int, _ context.Context) error {
					if n == 1 {
						return errUnavailable
					}
					// The ctx ends while the pipeline waits the minute asked for.
					cancel()
					return &sinks.RetryAfterError{Err: errUnavailable, After: time.Minute}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			e := newEnv(t, &scripted{fail: tt.fail(cancel)}, func(c *flush.Config) { c.RetryMax = tt.retryMax })
			e.src.add("a")
			if _, err := e.p.Flush(ctx, tt.mode, nil); !errors.Is(err, flush.ErrDeadLettered) {
				t.Fatalf("error %v, want ErrDeadLettered", err)
			}
			ls := e.letters(t)
			if len(ls) != 1 || ls[0].Attempts != tt.want {
				t.Fatalf("letters %+v, want one with %d attempts", ls, tt.want)
			}
			if ls[0].Batch.ID != id(1) || ls[0].Error == "" {
				t.Errorf("letter %+v", ls[0])
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	const after = 30 * time.Millisecond
	var mu sync.Mutex
	var at []time.Time
	sink := sinks.SinkFunc(func(ctx context.Context, b sinks.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		at = append(at, time.Now())
		if len(at) == 1 {
			return &sinks.RetryAfterError{Err: errors.New("429 Too Many Requests"), After: after}
		}
		return nil
	})
	e := newEnv(t, sink, nil)
	e.src.add("a")
	res, err := e.p.Flush(context.Background(), flush.All, nil)
	if err != nil || res.Batches != 1 {
		t.Fatalf("flush: %+v, %v", res, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(at) != 2 {
		t.Fatalf("%d attempts, want 2", len(at))
	}
	if gap := at[1].Sub(at[0]); gap < after {
		t.Errorf("retried after %v, want at least the %v asked for", gap, after)
	}
}

// interrupter is a sink that, when armed, cancels the flush's ctx and fails
// the call; otherwise it accepts.
type interrupter struct {
	scripted
	// armMu guards cancel.
	armMu  sync.Mutex
	cancel context.CancelFunc
}

func newInterrupter() *interrupter {
	s := &interrupter{}
	s.fail = func(int, context.Context) error {
		s.armMu.Lock()
		defer s.armMu.Unlock()
		if s.cancel == nil {
			return nil
		}
		s.cancel()
		s.cancel = nil
		return errUnavailable
	}
	return s
}

// arm returns a ctx that the next sink call cancels.
func (s *interrupter) arm() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	s.armMu.Lock()
	defer s.armMu.Unlock()
	s.cancel = cancel
	return ctx
}

func TestInterruptedBatchesKeptInOrder(t *testing.T) {
	for _, mode := range []flush.Mode{flush.Due, flush.All} {
		t.Run(mode.String(), func(t *testing.T) {
			sink := newInterrupter()
			// A long retry delay: the ctx ends during the wait, never after it.
			e := newEnv(t, sink, func(c *flush.Config) { c.RetryDelay = time.Minute })

			// 1: batch 1 is interrupted mid-retry.
			e.src.add("a")
			res, err := e.p.Flush(sink.arm(), mode, nil)
			if res != (flush.Result{}) || !errors.Is(err, context.Canceled) || errors.Is(err, flush.ErrDeadLettered) {
				t.Fatalf("flush 1: %+v, %v", res, err)
			}
			// 2: batch 1, tried first, is interrupted again; batch 2 is not tried.
			e.src.add("b")
			res, err = e.p.Flush(sink.arm(), mode, nil)
			if res != (flush.Result{}) || !errors.Is(err, context.Canceled) || errors.Is(err, flush.ErrDeadLettered) {
				t.Fatalf("flush 2: %+v, %v", res, err)
			}
			if held, settled := e.src.state(); held != 2 || len(settled) != 0 {
				t.Fatalf("after interruptions: held %d, settled %v", held, settled)
			}
			// 3: all three, in order.
			e.src.add("c")
			res, err = e.p.Flush(context.Background(), mode, nil)
			if err != nil || res != (flush.Result{Batches: 3, Keys: 3}) {
				t.Fatalf("flush 3: %+v, %v", res, err)
			}
			want := []string{id(1), id(2), id(3)}
			if _, accepted := sink.state(); !slices.Equal(accepted, want) {
				t.Errorf("sink got %v, want %v", accepted, want)
			}
			if held, settled := e.src.state(); held != 0 || !slices.Equal(settled, want) {
				t.Errorf("held %d, settled %v", held, settled)
			}
			if ls := e.letters(t); len(ls) != 0 {
				t.Errorf("dead letters %+v", ls)
			}
		})
	}
}

func TestFinalFlushDeadLettersInterrupted(t *testing.T) {
	sink := newInterrupter()
	e := newEnv(t, sink, func(c *flush.Config) { c.RetryDelay = time.Minute })
	e.src.add("a")
	if _, err := e.p.Flush(sink.arm(), flush.All, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("flush 1: %v", err)
	}
	// Batch 1 (kept) is interrupted at its first attempt; batch 2 is never tried.
	e.src.add("b")
	res, err := e.p.Flush(sink.arm(), flush.Final, nil)
	if res != (flush.Result{DeadLettered: 2}) || !errors.Is(err, flush.ErrDeadLettered) || !errors.Is(err, context.Canceled) {
		t.Fatalf("final flush: %+v, %v", res, err)
	}
	ls := e.letters(t)
	if len(ls) != 2 || ls[0].Batch.ID != id(1) || ls[0].Attempts != 1 || ls[1].Batch.ID != id(2) || ls[1].Attempts != 0 {
		t.Errorf("letters %+v", ls)
	}
	if held, settled := e.src.state(); held != 0 || len(settled) != 2 {
		t.Errorf("held %d, settled %v", held, settled)
	}
	if st := e.p.Stats(); st.DeadLettered != 2 {
		t.Errorf("stats %+v", st)
	}
}
