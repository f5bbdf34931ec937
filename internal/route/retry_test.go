package route

import (
	"context"
	"testing"
	"time"
)

// TestRetryQueueRoutesWhatIsDue checks when a waiting op is due again: its
// ring moved on, its backoff passed (never past its deadline), or its
// context ended; the others keep waiting, and the next wake-up is the
// earliest of their times.
func TestRetryQueueRoutesWhatIsDue(t *testing.T) {
	now := time.Now()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name    string
		call    *Call
		ringVer uint64
		at      time.Time
		due     bool
	}{
		{name: "waits for its backoff", call: &Call{Deadline: now.Add(time.Hour)}, at: now, due: false},
		{name: "due after its backoff", call: &Call{Deadline: now.Add(time.Hour)}, at: now.Add(2 * time.Second), due: true},
		{name: "due at once when the ring moved on", call: &Call{Deadline: now.Add(time.Hour)}, ringVer: 9, at: now, due: true},
		{name: "due at its deadline before its backoff", call: &Call{Deadline: now.Add(time.Millisecond)}, at: now.Add(5 * time.Millisecond), due: true},
		{name: "due when its context ended", call: &Call{Deadline: now.Add(time.Hour), Ctx: cancelled}, at: now, due: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := &retryQueue{r: &Router{}, wake: make(chan struct{}, 1)}
			q.add(tc.call)
			select {
			case <-q.wake:
			default:
				t.Fatal("adding an op did not wake the loop")
			}
			due, next := q.take(tc.ringVer, tc.at, false)
			if got := len(due) == 1; got != tc.due {
				t.Fatalf("due = %v, want %v", got, tc.due)
			}
			if !tc.due && (next.IsZero() || next.After(tc.call.Deadline)) {
				t.Fatalf("next wake-up %v for an op due by %v", next, tc.call.Deadline)
			}
			if tc.due && len(q.waiting) != 0 {
				t.Fatal("a due op still waits")
			}
		})
	}
}

func TestRetryBackoffGrowsWithAttempts(t *testing.T) {
	want := []time.Duration{20, 40, 80, 160, 320, 640, 1000, 1000, 1000}
	for i, w := range want {
		if got := backoff(i + 1); got != w*time.Millisecond {
			t.Fatalf("attempt %d waits %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
	q := &retryQueue{r: &Router{}, wake: make(chan struct{}, 1)}
	c := &Call{Deadline: time.Now().Add(time.Hour)}
	for range 3 {
		q.add(c)
	}
	if c.attempt != 3 {
		t.Fatalf("three adds counted %d attempts", c.attempt)
	}
}
