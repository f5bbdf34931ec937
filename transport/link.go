package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned for calls on a connection or server that has been
// closed, and for calls that were in flight when their connection closed.
var ErrClosed = errors.New("transport: connection closed")

// link is one TCP connection's outbound side. Frames are appended to a buffer
// under a short lock; one writer goroutine swaps the buffer out and writes
// everything pending with a single syscall, so frames queued while a write is
// in progress are coalesced into the next one.
type link struct {
	conn         net.Conn // written to: raw, or TLS over raw
	raw          net.Conn // the TCP connection: closed by close, never blocking
	writeTimeout time.Duration
	maxBuffered  int

	// mu guards out, drained, err and closed.
	mu      sync.Mutex
	out     []byte
	drained chan struct{} // closed and replaced after each write, when someone waits for space
	waiting bool
	err     error // the first error that closed the link
	closed  bool

	wake chan struct{} // capacity 1: there is something in out
	done chan struct{} // closed when the link is closed
	wg   sync.WaitGroup

	writes atomic.Int64 // socket writes made by writeLoop, for tests of coalescing
}

func newLink(conn net.Conn, cfg *Config) *link {
	return &link{
		conn:         conn,
		raw:          conn,
		writeTimeout: cfg.WriteTimeout,
		maxBuffered:  cfg.MaxBuffered,
		drained:      make(chan struct{}),
		wake:         make(chan struct{}, 1),
		done:         make(chan struct{}),
	}
}

// start runs the writer goroutine; close waits for it.
func (l *link) start() {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.writeLoop()
	}()
}

// send queues one encoded frame. It blocks while more than maxBuffered bytes
// are waiting to be written, until they drain, the deadline passes or the
// link closes.
func (l *link) send(ctx context.Context, frame []byte) error {
	l.mu.Lock()
	for len(l.out) > 0 && len(l.out)+len(frame) > l.maxBuffered && !l.closed {
		l.waiting = true
		ch := l.drained
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-l.done:
		}
		l.mu.Lock()
	}
	if l.closed {
		err := l.err
		l.mu.Unlock()
		return err
	}
	l.out = append(l.out, frame...)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return nil
}

// sendReply queues a response frame without ever blocking: the handler
// that answers may run on another connection's reader. A peer that lets
// more than four times MaxBuffered of responses pile up unread is cut off.
func (l *link) sendReply(frame []byte) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	if len(l.out) > 0 && len(l.out)+len(frame) > 4*l.maxBuffered {
		l.mu.Unlock()
		l.close(fmt.Errorf("peer is not reading its responses: over %d bytes queued", 4*l.maxBuffered))
		return
	}
	l.out = append(l.out, frame...)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *link) writeLoop() {
	var spare []byte
	for {
		select {
		case <-l.wake:
		case <-l.done:
			return
		}
		// Let the senders that are runnable append first: without this the
		// writer, readied by the first sender, tends to run before the others
		// and writes one frame per syscall (always so with GOMAXPROCS=1). With
		// no other goroutine runnable it returns at once.
		runtime.Gosched()
		l.mu.Lock()
		buf := l.out
		l.out = spare[:0]
		if l.waiting {
			close(l.drained)
			l.drained = make(chan struct{})
			l.waiting = false
		}
		l.mu.Unlock()
		if len(buf) == 0 {
			spare = buf
			continue
		}
		if l.writeTimeout > 0 {
			_ = l.conn.SetWriteDeadline(time.Now().Add(l.writeTimeout))
		}
		l.writes.Add(1)
		if _, err := l.conn.Write(buf); err != nil {
			l.close(err)
			return
		}
		// Keep a buffer for reuse unless a burst made it very large.
		if cap(buf) <= 4<<20 {
			spare = buf
		} else {
			spare = nil
		}
	}
}

// close closes the connection once, recording why. It does not wait.
func (l *link) close(err error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	switch {
	case err == nil:
		err = ErrClosed
	case !errors.Is(err, ErrClosed):
		err = fmt.Errorf("%w: %w", ErrClosed, err)
	}
	l.err = err
	l.out = nil
	close(l.done)
	l.mu.Unlock()
	// Closing the TCP connection under TLS skips the close_notify alert,
	// which could block on a peer that does not read; the other end sees
	// EOF at a record boundary.
	_ = l.raw.Close()
}

// closeErr is the error that closed the link, or nil while it is open.
func (l *link) closeErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}
