package yield

import "time"

const (
	// Share is how many times its own work a paced task leaves to the
	// others while connections are busy: it takes at most 1/(1+Share) of
	// a processor they want.
	Share = 8
	// MaxPause bounds one pause, so that a chunk slowed by something else
	// (a garbage collection) does not stall the task.
	MaxPause = 2 * time.Millisecond
)

// Pacer spaces out a long task that runs beside the connections, such as
// a flush encoding hundreds of thousands of keys: its Pause, called
// between chunks of work, sleeps Share times as long as the chunk took
// while a read returned within Window (connections are being served),
// and only lets the network be polled otherwise.
//
// A pause must sleep, not yield: a goroutine that only yields stays
// runnable, and Go does not poll the network while one is. A sleep of a
// microsecond is not enough either on a busy node: the timer has fired by
// the next scheduling, so the task came back after every connection's
// turn and took half the processor. Measured with 50 RESP clients on one
// core (INCR -P 16, 200,000 keys flushed every 2s): writers' slowest call
// 9-15ms and p99.9 4.0-4.5ms with such sleeps, 7-9.5ms and 3.5-3.9ms
// paced.
// A Pacer is used by one goroutine; its zero value is ready.
type Pacer struct {
	since Instant // when the chunk under way began; 0 before the first
}

// Pause ends a chunk of work: it sleeps as described on Pacer and starts
// the next chunk.
func (p *Pacer) Pause() {
	now := Now()
	var chunk time.Duration
	if p.since != 0 {
		chunk = now.Sub(p.since)
	}
	time.Sleep(pauseAfter(chunk, serving(now)))
	p.since = Now()
}

// serving reports whether a read returned within Window of now.
func serving(now Instant) bool { return now.Sub(Instant(served.Load())) < Window }

// pauseAfter is the pause after a chunk of work that took chunk (0 if
// unknown) while connections were busy or not.
func pauseAfter(chunk time.Duration, busy bool) time.Duration {
	if !busy {
		return time.Microsecond
	}
	return min(max(time.Microsecond, Share*chunk), MaxPause)
}
