package transport

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// budget is a server's allowance of bytes for frames being read, shared by
// all its connections (Config.MaxInFlight). A frame reserves its whole
// declared length before reading its payload, so that no two frames each
// hold part of what they need and wait for each other. Waiters are served
// in arrival order, so a large frame is not starved by smaller ones.
type budget struct {
	limit int64

	// mu guards used and waiters.
	mu      sync.Mutex
	used    int64
	waiters []*budgetWaiter
}

type budgetWaiter struct {
	n       int64
	granted bool
	ready   chan struct{} // closed when granted
}

func newBudget(limit int) *budget { return &budget{limit: int64(limit)} }

// fits reports whether n more bytes may be granted now. A frame larger than
// the whole budget is granted when nothing else is in flight.
func (b *budget) fits(n int64) bool { return b.used == 0 || b.used+n <= b.limit }

// acquire reserves n bytes, waiting while they do not fit, until done is
// closed (then it returns ErrClosed) or the deadline passes (an error
// wrapping os.ErrDeadlineExceeded). A zero deadline means none.
func (b *budget) acquire(n int64, done <-chan struct{}, deadline time.Time) error {
	b.mu.Lock()
	if len(b.waiters) == 0 && b.fits(n) {
		b.used += n
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()

	var expired <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		expired = t.C
	}
	var err error
	select {
	case <-w.ready:
		return nil
	case <-done:
		err = ErrClosed
	case <-expired:
		err = fmt.Errorf("waiting for %d bytes of the in-flight budget: %w", n, os.ErrDeadlineExceeded)
	}
	b.mu.Lock()
	if w.granted {
		// Granted as we gave up: give it back.
		b.used -= n
	} else {
		for i, o := range b.waiters {
			if o == w {
				b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
				break
			}
		}
	}
	b.grantLocked() // w may have been at the head, holding others back
	b.mu.Unlock()
	return err
}

// release gives back n bytes reserved by acquire.
func (b *budget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.grantLocked()
	b.mu.Unlock()
}

// grantLocked grants waiters in order while the head fits.
func (b *budget) grantLocked() {
	for len(b.waiters) > 0 && b.fits(b.waiters[0].n) {
		w := b.waiters[0]
		b.waiters[0] = nil
		b.waiters = b.waiters[1:]
		b.used += w.n
		w.granted = true
		close(w.ready)
	}
}

// inUse returns the bytes reserved and the number of frames waiting.
func (b *budget) inUse() (int64, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, len(b.waiters)
}
