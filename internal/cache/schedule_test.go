package cache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/loaders"
)

func noJitter(time.Duration) time.Duration { return 0 }

func TestScheduleKeepsItsGrid(t *testing.T) {
	const every = 10 * time.Second
	tests := []struct {
		name     string
		ranFor   []time.Duration // how long after it was due each run ends
		want     []time.Duration // when the next run is due, from the start
		wantLate []bool
	}{
		{
			name:   "quick runs",
			ranFor: []time.Duration{0, time.Millisecond, 0},
			want:   []time.Duration{20 * time.Second, 30 * time.Second, 40 * time.Second},
		},
		{
			name:   "late timers and slow runs do not push the grid back",
			ranFor: []time.Duration{7 * time.Second, 9 * time.Second, 2 * time.Second},
			want:   []time.Duration{20 * time.Second, 30 * time.Second, 40 * time.Second},
		},
		{
			name:     "a run over its period is followed by the next at once",
			ranFor:   []time.Duration{25 * time.Second, 0, 0},
			want:     []time.Duration{35 * time.Second, 45 * time.Second, 55 * time.Second},
			wantLate: []bool{true, false, false},
		},
		{
			name:     "a run of several periods is followed by one run, not several",
			ranFor:   []time.Duration{45 * time.Second, 3 * time.Second, 0},
			want:     []time.Duration{55 * time.Second, 65 * time.Second, 75 * time.Second},
			wantLate: []bool{true, false, false},
		},
		{
			name:     "a run ending at the next slot",
			ranFor:   []time.Duration{every, 0},
			want:     []time.Duration{20 * time.Second, 30 * time.Second},
			wantLate: []bool{true, false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := base
			s := newSchedule(start, every, noJitter)
			due, late := s.next(start)
			if due != start.Add(every) || late {
				t.Fatalf("first run due at %v (late %v), want %v", due.Sub(start), late, every)
			}
			for i, d := range tt.ranFor {
				due, late = s.next(due.Add(d))
				wantLate := tt.wantLate != nil && tt.wantLate[i]
				if due != start.Add(tt.want[i]) || late != wantLate {
					t.Fatalf("run %d: next due at %v (late %v), want %v (late %v)", i+1, due.Sub(start), late, tt.want[i], wantLate)
				}
			}
		})
	}
}

func TestScheduleJitter(t *testing.T) {
	const every = 20 * time.Second
	const most = every / jitterDivisor
	s := newSchedule(base, every, jitter)
	var early, lateRuns int
	for i := 1; i <= 1000; i++ {
		due, late := s.next(base.Add(time.Duration(i-1) * every))
		slot := base.Add(time.Duration(i) * every)
		off := due.Sub(slot)
		if late || off < -most || off > most {
			t.Fatalf("run %d due %v off its slot (late %v), want within ±%v", i, off, late, most)
		}
		switch {
		case off < 0:
			early++
		case off > 0:
			lateRuns++
		}
	}
	if early < 100 || lateRuns < 100 {
		t.Fatalf("%d runs early and %d late of 1000: the jitter is not spread both ways", early, lateRuns)
	}

	// Jitter never makes a run due before the last one ended.
	s = newSchedule(base, every, func(max time.Duration) time.Duration { return -max })
	now := base.Add(every - time.Millisecond)
	if due, _ := s.next(now); due.Before(now) {
		t.Fatalf("due %v before now %v", due.Sub(base), now.Sub(base))
	}

	for _, max := range []time.Duration{0, -time.Second} {
		if j := jitter(max); j != 0 {
			t.Fatalf("jitter(%v) = %v, want 0", max, j)
		}
	}
}

func TestSweepInterval(t *testing.T) {
	tests := []struct {
		ttl, want time.Duration
	}{
		{40 * time.Second, 10 * time.Second},
		{20 * time.Millisecond, 10 * time.Millisecond},
		{time.Hour, time.Minute},
		{0, time.Second},
	}
	for _, tt := range tests {
		if got := sweepInterval(tt.ttl); got != tt.want {
			t.Errorf("sweepInterval(%v) = %v, want %v", tt.ttl, got, tt.want)
		}
	}
}

// newTestEngine returns an engine of a cache store named "c" over 4
// partitions that loads through l, holding key "k".
func newTestEngine(t *testing.T, cfg EngineConfig, l loaders.LoaderFunc) *Engine {
	t.Helper()
	stopping, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	h := op.Host{
		Partitions: 4,
		Stopping:   stopping,
		Logger:     testLogger(t),
		Go: func(f func()) bool {
			if stopping.Err() != nil {
				return false
			}
			wg.Go(f)
			return true
		},
	}
	cfg.Name = "c"
	cfg.Load = LoadConfig{Loader: l, Timeout: time.Minute, Logger: h.Logger}
	e := NewEngine(h, cfg)
	e.Apply(&op.Op{Kind: op.Set, Key: "k", Values: [][]byte{[]byte("v")}}, 1, nil)
	return e
}

// runEngine starts e.Run and returns when it started and a func that stops
// it and waits for it to return (which the test's end does too).
func runEngine(t *testing.T, e *Engine) (time.Time, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		e.Run(ctx)
	}()
	stop := sync.OnceFunc(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return within 10s of its context ending")
		}
	})
	t.Cleanup(stop)
	return start, stop
}

// gapsWithin reports, as an error, a gap between start and the first
// time, or between each time and the next, outside [lo, hi].
func gapsWithin(what string, start time.Time, times []time.Time, lo, hi time.Duration) error {
	prev := start
	for i, at := range times {
		if g := at.Sub(prev); g < lo || g > hi {
			return fmt.Errorf("%s %d came %v after the previous one (the first: after the start), want %v to %v", what, i+1, g.Round(100*time.Microsecond), lo, hi)
		}
		prev = at
	}
	return nil
}

// timely runs a timing measurement up to three times and fails the test
// only if every attempt failed: a goroutine stalled for a moment on a
// loaded machine makes one gap long and the next short whatever the
// schedule does, while a wrong schedule fails every attempt.
func timely(t *testing.T, measure func(t *testing.T) error) {
	t.Helper()
	var errs []error
	for range 3 {
		err := measure(t)
		if err == nil {
			return
		}
		errs = append(errs, err)
		t.Logf("attempt %d: %v", len(errs), err)
	}
	t.Fatalf("every attempt failed: %v", errors.Join(errs...))
}

// scaled returns d times f.
func scaled(d time.Duration, f float64) time.Duration { return time.Duration(float64(d) * f) }

func TestRefreshKeepsItsPeriod(t *testing.T) {
	const every = 40 * time.Millisecond
	timely(t, func(t *testing.T) error {
		calls := make(chan time.Time, 64)
		e := newTestEngine(t, EngineConfig{RefreshInterval: every}, func(ctx context.Context, key string) (loaders.Result, error) {
			select {
			case calls <- time.Now():
			default:
			}
			return loaders.Result{Value: []byte("v")}, nil
		})
		start, stop := runEngine(t, e)
		defer stop()
		var times []time.Time
		deadline := time.After(10 * time.Second)
		for len(times) < 8 {
			select {
			case at := <-calls:
				times = append(times, at)
			case <-deadline:
				return fmt.Errorf("%d refreshes in 10s with a refresh interval of %v", len(times), every)
			}
		}
		// The old loop reached 2-2.4x the interval.
		return gapsWithin("refresh", start, times, scaled(every, 0.8), scaled(every, 1.6))
	})
}

func TestSlowRefreshIsFollowedByOneAtOnce(t *testing.T) {
	const every, took = 40 * time.Millisecond, 100 * time.Millisecond
	timely(t, func(t *testing.T) error {
		var running, most atomic.Int32
		starts := make(chan time.Time, 64)
		e := newTestEngine(t, EngineConfig{RefreshInterval: every}, func(ctx context.Context, key string) (loaders.Result, error) {
			select {
			case starts <- time.Now():
			default:
			}
			n := running.Add(1)
			defer running.Add(-1)
			if n > most.Load() {
				most.Store(n)
			}
			select {
			case <-time.After(took): // a slow database
			case <-ctx.Done():
			}
			return loaders.Result{Value: []byte("v")}, nil
		})
		start, stop := runEngine(t, e)
		var times []time.Time
		deadline := time.After(10 * time.Second)
		for len(times) < 4 {
			select {
			case at := <-starts:
				times = append(times, at)
			case <-deadline:
				stop()
				return fmt.Errorf("%d refreshes in 10s", len(times))
			}
		}
		stop()
		if most.Load() != 1 {
			t.Fatalf("%d refreshes ran at once, want 1", most.Load()) // never a matter of timing
		}
		// Each refresh starts when the last one ends: not before (they
		// would pile up), nor a period later.
		return errors.Join(gapsWithin("first refresh", start, times[:1], scaled(every, 0.8), scaled(every, 1.6)),
			gapsWithin("refresh", times[0], times[1:], took, took+every))
	})
}

// dumpTimes watches the dump file at path and returns when each of the
// first n dumps was written (its file replaced), failing the test if that
// takes longer than 10s.
func dumpTimes(t *testing.T, path string, n int) []time.Time {
	t.Helper()
	var times []time.Time
	var last os.FileInfo
	deadline := time.Now().Add(10 * time.Second)
	for len(times) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d dumps written in 10s, want %d", len(times), n)
		}
		fi, err := os.Stat(path)
		if err == nil && (last == nil || !os.SameFile(fi, last)) {
			times = append(times, time.Now())
			last = fi
		}
		time.Sleep(200 * time.Microsecond) // polling: the file is replaced by a rename
	}
	return times
}

// blockedLoader returns a loader whose loads fail once their context or
// the test ends, and a channel with a value for each load that started.
func blockedLoader(t *testing.T) (loaders.LoaderFunc, chan struct{}) {
	release := make(chan struct{})
	started := make(chan struct{}, 64)
	t.Cleanup(func() { close(release) })
	return func(ctx context.Context, key string) (loaders.Result, error) {
		select {
		case started <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return loaders.Result{}, fmt.Errorf("released")
	}, started
}

func TestDumpKeepsItsPeriodDuringASlowRefresh(t *testing.T) {
	const every = 60 * time.Millisecond
	timely(t, func(t *testing.T) error {
		load, started := blockedLoader(t)
		path := filepath.Join(t.TempDir(), "c.dump")
		e := newTestEngine(t, EngineConfig{RefreshInterval: 10 * time.Millisecond, DumpPath: path, DumpInterval: every}, load)
		start, stop := runEngine(t, e)
		defer stop()
		times := dumpTimes(t, path, 5)
		select {
		case <-started:
		default:
			t.Fatal("no refresh started")
		}
		return gapsWithin("dump", start, times, scaled(every, 0.8), scaled(every, 1.6))
	})
}

func TestSweepRunsDuringASlowRefresh(t *testing.T) {
	load, started := blockedLoader(t)
	e := newTestEngine(t, EngineConfig{RefreshInterval: 5 * time.Millisecond, TTL: 40 * time.Millisecond}, load)
	_, stop := runEngine(t, e)
	<-started
	deadline := time.Now().Add(10 * time.Second)
	for e.state.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the expired entry was not swept within 10s while a refresh was running")
		}
		time.Sleep(time.Millisecond) // polling
	}
	stop()
}

// TestSweepRunsWithoutTTL: a store without a TTL still sweeps the entries
// set with one, unread, and Run returns once its context ends.
func TestSweepRunsWithoutTTL(t *testing.T) {
	e := newTestEngine(t, EngineConfig{}, func(context.Context, string) (loaders.Result, error) {
		t.Error("loader called")
		return loaders.Result{}, loaders.ErrNotFound
	})
	e.Apply(&op.Op{Kind: op.Set, Key: "brief", Values: [][]byte{[]byte("v")}, TTL: 20 * time.Millisecond}, 2, nil)
	if n := e.state.Len(); n != 2 {
		t.Fatalf("the store holds %d entries, want 2", n)
	}
	_, stop := runEngine(t, e)
	deadline := time.Now().Add(10 * time.Second)
	for e.state.Len() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the expired entry was not swept within 10s in a store without a TTL")
		}
		time.Sleep(time.Millisecond) // polling
	}
	if _, ok := e.state.Get(1, "k"); !ok {
		t.Fatal("the sweep dropped the entry without an expiry")
	}
	stop()
}
