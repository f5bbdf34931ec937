package yield

import (
	"testing"
	"time"
)

func TestPauseAfter(t *testing.T) {
	for _, tc := range []struct {
		chunk time.Duration
		busy  bool
		want  time.Duration
	}{
		{100 * time.Microsecond, false, time.Microsecond}, // idle: only poll the network
		{0, true, time.Microsecond},                       // the first chunk: not timed
		{100 * time.Microsecond, true, Share * 100 * time.Microsecond},
		{time.Second, true, MaxPause}, // a chunk slowed by something else
	} {
		if got := pauseAfter(tc.chunk, tc.busy); got != tc.want {
			t.Errorf("pauseAfter(%v, %v) = %v, want %v", tc.chunk, tc.busy, got, tc.want)
		}
	}
}

// A read that returns makes the process serving for Window.
func TestReadsMakeServing(t *testing.T) {
	start := Now()
	AfterRead(start)
	now := Now()
	if !serving(now) {
		t.Fatal("not serving right after a read")
	}
	if serving(now.Add(Window + servedGrain)) {
		t.Fatal("still serving a window after the last read")
	}
}
