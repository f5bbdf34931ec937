package flush_test

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/internal/flush"
	"github.com/hoard-dev/hoard/sinks"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration // what next returns
		kick     bool          // wake the loop through its kick channel
		mode     func() flush.Mode
		wantMode flush.Mode
	}{
		{name: "flushes on kick", interval: time.Hour, kick: true, mode: func() flush.Mode { return flush.All }, wantMode: flush.All},
		{name: "flushes on its timer", interval: time.Millisecond, wantMode: flush.Due},
		{name: "mode asked each round", interval: time.Millisecond, mode: func() flush.Mode { return flush.All }, wantMode: flush.All},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := sinks.NewMemory()
			e := newEnv(t, sink, nil)
			e.src.add("a")
			var kick chan struct{}
			if tt.kick {
				kick = make(chan struct{}, 1)
			}
			var rounds atomic.Int64
			next := func() time.Duration { rounds.Add(1); return tt.interval }
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				e.p.Run(ctx, next, kick, tt.mode)
			}()
			changed := sink.Changed()
			if kick != nil {
				kick <- struct{}{}
			}
			select {
			case <-changed:
			case <-time.After(2 * time.Second):
				t.Fatal("no flush")
			}
			// The timer is set again after each round.
			waitFor(t, "the next round's timer", func() bool { return rounds.Load() >= 2 })
			cancel()
			select {
			case <-done:
			case <-time.After(2 * time.Second):
				t.Fatal("Run did not return when its ctx ended")
			}
			if modes, _ := e.src.takeCalls(); len(modes) == 0 || modes[0] != tt.wantMode {
				t.Errorf("Take modes %v, want %v first", modes, tt.wantMode)
			}
			if got := sink.Batches(); len(got) != 1 || got[0].ID != id(1) {
				t.Errorf("sink got %+v", got)
			}
		})
	}
}

func TestRunStopsWhileIdle(t *testing.T) {
	e := newEnv(t, sinks.NewMemory(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.p.Run(ctx, func() time.Duration { return time.Hour }, nil, nil)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return when its ctx ended")
	}
	if modes, _ := e.src.takeCalls(); len(modes) != 0 {
		t.Errorf("flushed %v with nothing due", modes)
	}
}

func TestJitter(t *testing.T) {
	tests := []struct {
		name   string
		d      time.Duration
		lo, hi time.Duration
	}{
		{"zero", 0, 0, 0},
		{"too small to vary", 4, 4, 4},
		{"within 20%", 100 * time.Millisecond, 80 * time.Millisecond, 120 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 1000 {
				if got := flush.Jitter(tt.d); got < tt.lo || got > tt.hi {
					t.Fatalf("Jitter(%v) = %v, want within [%v, %v]", tt.d, got, tt.lo, tt.hi)
				}
			}
		})
	}
}

func TestInterval(t *testing.T) {
	tests := []struct {
		name             string
		interval, jitter time.Duration
		lo, hi           time.Duration // hi excluded, unless lo == hi
	}{
		{"no jitter", 5 * time.Second, 0, 5 * time.Second, 5 * time.Second},
		{"negative jitter", 5 * time.Second, -time.Second, 5 * time.Second, 5 * time.Second},
		{"up to jitter more", 5 * time.Second, time.Second, 5 * time.Second, 6 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 1000 {
				got := flush.Interval(tt.interval, tt.jitter)
				if got < tt.lo || got > tt.hi || (got == tt.hi && tt.lo != tt.hi) {
					t.Fatalf("Interval(%v, %v) = %v, want within [%v, %v)", tt.interval, tt.jitter, got, tt.lo, tt.hi)
				}
			}
		})
	}
}

// HandingOff holds from the start of a hand-off flush until it is done: a
// flush hanging in the sink keeps it true, and it turns false once the
// sink returns.
func TestHandingOffLastsUntilTheFlushEnds(t *testing.T) {
	h := newHangingSink()
	e := newEnv(t, h, nil)
	if e.p.HandingOff() {
		t.Fatal("handing off before any hand-off")
	}
	e.src.add("a")
	e.p.HandOff([]int{0})
	select {
	case <-h.entered:
	case <-time.After(2 * time.Second):
		close(h.release)
		t.Fatal("the hand-off flush never reached the sink")
	}
	if !e.p.HandingOff() {
		close(h.release)
		t.Fatal("not handing off while the hand-off flush is in the sink")
	}
	close(h.release)
	waitFor(t, "the hand-off flush to end", func() bool { return !e.p.HandingOff() })
	if _, settled := e.src.state(); len(settled) != 1 {
		t.Fatalf("settled %v, want the one batch", settled)
	}
}

// A hand-off flush of lost partitions leaves out those the node owns again
// by the time it runs (Config.Owns), and takes nothing when that is all of
// them; the first ring's losses are not flushed; HandOff, for partitions
// the node keeps, takes every one listed.
func TestLoseLeavesOutPartitionsOwnedAgain(t *testing.T) {
	var owned sync.Map // partition -> true
	e := newEnv(t, sinks.NewMemory(), func(c *flush.Config) {
		c.Owns = func(p int) bool { _, ok := owned.Load(p); return ok }
		c.Go = func(f func()) bool { f(); return true } // at once, so the takes are in order
	})
	owned.Store(2, true)
	e.p.Lose([]int{1, 2, 3}, false)
	e.p.Lose([]int{2}, false)
	e.p.Lose([]int{4}, true)
	e.p.HandOff([]int{2, 5})
	modes, only := e.src.takeCalls()
	want := [][]int{{1, 3}, {2, 5}}
	if !reflect.DeepEqual(only, want) {
		t.Fatalf("takes of partitions %v, want %v", only, want)
	}
	for i, m := range modes {
		if m != flush.All {
			t.Fatalf("take %d in mode %v, want All", i, m)
		}
	}
}
