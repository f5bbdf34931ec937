package resp

import (
	"errors"
	"net"
	"slices"
	"sync"
	"time"
)

// errTooSlow is a command that was not read whole, or a reply not taken,
// within the command timeout.
var errTooSlow = errors.New("command timeout")

// budget is the bytes of incomplete commands all connections may still
// take (Config.MaxBufferedBytes).
//
// A reader takes bytes as its command grows and gives them all back once
// it is read, so readers that wait for more while holding some could wait
// for each other for ever (four 9 MiB commands, each 8 MiB in, in 32 MiB).
// The eldest holder is never made to wait: it may take more than is free,
// finishes its command and gives its bytes back to the next. The budget is
// therefore overdrawn by at most one command (the server's maxCmd).
type budget struct {
	// mu guards free, holders and freed.
	mu      sync.Mutex
	free    int
	holders []*reader     // those holding bytes, in the order they took their first
	freed   chan struct{} // closed, and replaced, when bytes come back
}

func newBudget(n int) *budget { return &budget{free: n, freed: make(chan struct{})} }

// take takes n more bytes for rd, waiting for others to give some back
// when there are not enough and rd is not the eldest holder: until
// deadline (errTooSlow) or until done is closed (net.ErrClosed).
func (b *budget) take(rd *reader, n int, deadline time.Time, done <-chan struct{}) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		b.mu.Lock()
		eldest := len(b.holders) > 0 && b.holders[0] == rd
		if b.free >= n || eldest {
			b.free -= n
			if !eldest && !slices.Contains(b.holders, rd) {
				b.holders = append(b.holders, rd)
			}
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

// give gives back the n bytes rd holds, all it holds, waking whoever waits
// for some.
func (b *budget) give(rd *reader, n int) {
	b.mu.Lock()
	b.free += n
	if i := slices.Index(b.holders, rd); i >= 0 {
		b.holders = slices.Delete(b.holders, i, i+1)
	}
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}

// available returns the bytes left: negative while the eldest holder
// overdraws.
func (b *budget) available() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.free
}
