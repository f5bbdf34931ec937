// Package yield shares the processor between connections and the work
// beside them: it decides whether a connection's reader yields before a
// read that may block, and paces long tasks such as a flush (Pacer).
//
// Yielding first lets the other runnable goroutines go, as an event loop
// serves the other ready sockets before coming back: by the time the
// reader reads, its peer has often sent what comes next, which one read
// takes at once instead of a read that finds nothing, a park and a
// wake-up. But a goroutine that yields stays runnable, and Go polls the
// network only once no goroutine is runnable (or when sysmon does, every
// 10ms): readers that always yield keep the processor from the parked
// ones, whose data has come. So readers yield only while a parked reader
// was woken lately, anywhere in the process (one scheduler serves them
// all); after Window without a wake they read at once, park when nothing
// came yet, and the network is polled.
//
// Measured with 50 RESP clients on one core (INCR -P 16): always yielding,
// writers' p99.9 was 11-13ms; never, 2.2ms and 6% less GET throughput;
// this way, about 3ms.
//
// A connection yields by the same rule before it writes its replies: the
// connections served in one pass then write one after the other, as an
// event loop writes at the end of its pass, and a client serving many
// connections from one thread is woken once for them, not once each.
// Waking it (an interrupt to its core) was 22% of the agent's CPU during
// INCR -P 16 (redis-server's: 7%), and 8% after; 1.15M -> 1.43M req/s and
// p99.9 3.5ms -> 2.7ms, in alternating runs.
package yield

import (
	"runtime"
	"sync/atomic"
	"time"
)

const (
	// Window is how long after the last wake of a parked reader the others
	// keep yielding.
	Window = time.Millisecond
	// parked is how long a read lasts at least when it waited for data: a
	// read that finds data takes a few microseconds.
	parked = 50 * time.Microsecond
)

// Instant is a reading of the monotonic clock: nanoseconds since the
// package was initialised, at the process's start. Now costs 29ns where
// time.Now costs 49ns (one clock read instead of two: no wall clock), and
// a connection reads the clock three times per request: reading the clock
// went from 2.9% to 2.0% of the agent's CPU during INCR -P 1 with
// ack = "wal".
type Instant int64

// epoch is the process's start, to the monotonic clock.
var epoch = time.Now()

// Now returns the current Instant.
func Now() Instant { return Instant(time.Since(epoch)) }

// Add returns i plus d.
func (i Instant) Add(d time.Duration) Instant { return i + Instant(d) }

// Sub returns i minus j.
func (i Instant) Sub(j Instant) time.Duration { return time.Duration(i - j) }

// woke is when a reader's read last returned after waiting for data.
// Before the first, its zero counts as the process's first millisecond
// having had one: readers yield then, which does no harm.
var woke atomic.Int64

// served is when a reader's read last returned, kept to within
// servedGrain so that busy readers seldom write it.
var served atomic.Int64

const servedGrain = 100 * time.Microsecond

// Turn yields the processor if a parked reader was woken within Window,
// and returns the Instant after it. A connection calls it before a read
// that may block (the Instant is then AfterRead's start) and before it
// writes its replies.
func Turn() Instant {
	now := Now()
	if now.Sub(Instant(woke.Load())) < Window {
		runtime.Gosched()
		now = Now()
	}
	return now
}

// AfterRead notes the end of a read that began at start: one that lasted
// long enough to have waited for data counts as a wake.
func AfterRead(start Instant) {
	end := Now()
	if end.Sub(start) > parked {
		woke.Store(int64(end))
	}
	if end.Sub(Instant(served.Load())) > servedGrain {
		served.Store(int64(end))
	}
}
