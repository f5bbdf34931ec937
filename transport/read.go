package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hoard-dev/hoard/internal/yield"
)

const (
	// smallFrame is the size up to which a frame is read without the
	// server's in-flight budget, into a buffer that is pooled: every
	// connection may hold one such frame (as it holds its read buffer).
	smallFrame = 64 << 10

	// firstChunk is the first allocation for a frame's payload; it then
	// doubles as bytes arrive, up to the declared length (a frame that holds
	// its length of the server's budget jumps to it from an eighth).
	firstChunk = 4 << 10
)

// errIdle ends a server connection on which nothing arrived for
// Config.IdleTimeout while no request was being handled.
var errIdle = errors.New("idle")

// errFrameTimeout wraps the error of a frame that was not complete within
// Config.FrameTimeout.
var errFrameTimeout = errors.New("frame timed out")

// framePool holds payload buffers of at most smallFrame bytes.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, firstChunk); return &b }}

// frameReader reads frames from one connection. Memory for a payload is
// allocated as its bytes arrive, never for a declared length up front.
// The zero deadline fields mean no deadlines: a frameReader over a plain
// bufio.Reader (handshakes, fuzzers) sets none.
type frameReader struct {
	br    *bufio.Reader
	max   int
	small int // frames up to this size use pooled buffers and no budget

	conn         net.Conn      // where deadlines are set; nil: none
	frameTimeout time.Duration // from a frame's first byte to its last; 0: none
	idleTimeout  time.Duration // servers: wait for a first byte; 0: forever
	busy         func() bool   // reports requests being handled, which keep an idle connection
	budget       *budget       // servers: reserved by frames above smallFrame
	done         <-chan struct{}

	buf      *[]byte // the last frame's payload
	held     int64   // budget held by the last frame
	deadline bool    // a read deadline is set on conn
}

// newFrameReader reads frames of at most max bytes from br, without
// deadlines or budget.
func newFrameReader(br *bufio.Reader, max int) *frameReader {
	return &frameReader{br: br, max: max, small: smallFrame}
}

// next reads one frame payload. It stays valid until the next call to next
// or release. A declared length above max is ErrFrameTooLarge and nothing
// more is read. io.EOF means the stream ended between frames.
func (fr *frameReader) next() ([]byte, error) {
	fr.release()
	if err := fr.waitFirstByte(); err != nil {
		return nil, err
	}
	var deadline time.Time // none while the whole frame is buffered: the hot path reads no clock
	if fr.conn != nil && fr.frameTimeout > 0 && !fr.buffered() {
		deadline = time.Now().Add(fr.frameTimeout)
		fr.setDeadline(deadline)
	}
	var lenBuf [frameLenSize]byte
	if _, err := io.ReadFull(fr.br, lenBuf[:]); err != nil {
		return nil, fr.frameErr(err, -1)
	}
	n := int(binary.BigEndian.Uint32(lenBuf[:]))
	if n > fr.max {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, fr.max)
	}
	if n > fr.small && fr.budget != nil {
		if err := fr.budget.acquire(int64(n), fr.done, deadline); err != nil {
			return nil, fr.frameErr(err, n)
		}
		fr.held = int64(n)
	}
	if n <= fr.small {
		fr.buf = framePool.Get().(*[]byte)
	} else {
		fr.buf = new([]byte)
	}
	buf := (*fr.buf)[:0]
	for len(buf) < n {
		if len(buf) == cap(buf) {
			size := min(n, max(2*cap(buf), firstChunk))
			if fr.held > 0 && size >= n/8 {
				// A frame that holds its length of the budget, an eighth
				// of which came, gets it at once: doubling to the end would
				// leave as much again as garbage, past the budget.
				size = n
			}
			grown := make([]byte, len(buf), size)
			copy(grown, buf)
			buf = grown
		}
		m, err := fr.br.Read(buf[len(buf):min(n, cap(buf))])
		buf = buf[:len(buf)+m]
		if err != nil && len(buf) < n {
			*fr.buf = buf
			return nil, fr.frameErr(err, n)
		}
	}
	*fr.buf = buf
	return buf, nil
}

// release gives back the last frame's budget and buffer: small buffers go
// to the pool, large ones to the garbage collector.
func (fr *frameReader) release() {
	if fr.held > 0 {
		fr.budget.release(fr.held)
		fr.held = 0
	}
	if fr.buf != nil {
		if cap(*fr.buf) <= smallFrame {
			*fr.buf = (*fr.buf)[:0]
			framePool.Put(fr.buf)
		}
		fr.buf = nil
	}
}

// buffered reports whether a whole frame is already in the read buffer, so
// that reading it cannot block.
func (fr *frameReader) buffered() bool {
	if fr.br.Buffered() < frameLenSize {
		return false
	}
	p, _ := fr.br.Peek(frameLenSize)
	return fr.br.Buffered()-frameLenSize >= int(binary.BigEndian.Uint32(p))
}

// waitFirstByte waits for the next frame's first byte. On a server it
// closes the connection (errIdle) after idleTimeout without one, unless
// busy says requests are being handled.
func (fr *frameReader) waitFirstByte() error {
	if fr.br.Buffered() > 0 {
		return nil
	}
	// Before a read that may block, let the runnable goroutines go first
	// (as link.writeLoop does before a write) while that cannot starve
	// parked readers (see package yield): the next frames often arrive
	// meanwhile and are read by one read(2), without the read that would
	// find nothing, the park and the wake-up. (The replicated benchmark,
	// always yielding: 18-20% fewer read and write calls per op, 7-10%
	// more ops/s.)
	start := yield.Turn()
	defer yield.AfterRead(start)
	for {
		switch {
		case fr.conn == nil:
		case fr.idleTimeout > 0:
			fr.setDeadline(time.Now().Add(fr.idleTimeout))
		case fr.deadline:
			fr.setDeadline(time.Time{})
		}
		_, err := fr.br.Peek(1)
		if err == nil {
			return nil
		}
		if fr.idleTimeout > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
			if fr.busy != nil && fr.busy() {
				continue
			}
			return fmt.Errorf("%w: nothing received for %s", errIdle, fr.idleTimeout)
		}
		return err
	}
}

func (fr *frameReader) setDeadline(t time.Time) {
	_ = fr.conn.SetReadDeadline(t)
	fr.deadline = !t.IsZero()
}

// frameErr describes err, which ended a frame of n bytes (-1: in its
// length) after its first byte.
func (fr *frameReader) frameErr(err error, n int) error {
	switch {
	case errors.Is(err, io.EOF):
		return io.ErrUnexpectedEOF
	case errors.Is(err, os.ErrDeadlineExceeded) && fr.frameTimeout > 0:
		if n < 0 {
			return fmt.Errorf("%w: length incomplete after %s: %w", errFrameTimeout, fr.frameTimeout, err)
		}
		return fmt.Errorf("%w: frame of %d bytes incomplete after %s: %w", errFrameTimeout, n, fr.frameTimeout, err)
	}
	return err
}

// readFrame reads one frame payload from br, of at most max bytes, into a
// buffer of its own.
func readFrame(br *bufio.Reader, max int) ([]byte, error) {
	fr := newFrameReader(br, max)
	buf, err := fr.next()
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), buf...)
	fr.release()
	return out, nil
}
