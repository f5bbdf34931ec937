package resp

import (
	"errors"
	"net"
	"sync"
	"time"
)

// errTooSlow is a command that was not read whole, or a reply not taken,
// within the command timeout.
var errTooSlow = errors.New("command timeout")

// budget is the bytes of incomplete commands all connections may still
// take (Config.MaxBufferedBytes).
type budget struct {
	// mu guards free and freed.
	mu    sync.Mutex
	free  int
	freed chan struct{} // closed, and replaced, when bytes come back
}

func newBudget(n int) *budget { return &budget{free: n, freed: make(chan struct{})} }

// take takes n bytes, waiting for others to give some back when there are
// not enough: until deadline (errTooSlow) or until done is closed
// (net.ErrClosed). n must be at most the budget's size.
func (b *budget) take(n int, deadline time.Time, done <-chan struct{}) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		b.mu.Lock()
		if b.free >= n {
			b.free -= n
			b.mu.Unlock()
			return nil
		}
		freed := b.freed
		b.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(time.Until(deadline))
		}
		select {
		case <-freed:
		case <-timer.C:
			return errTooSlow
		case <-done:
			return net.ErrClosed
		}
	}
}

// give gives n bytes back, waking whoever waits for some.
func (b *budget) give(n int) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.free += n
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}

// available returns the bytes left.
func (b *budget) available() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.free
}
