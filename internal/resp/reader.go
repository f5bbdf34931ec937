package resp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// The RESP request reader. redcon's Reader (v1.6.4) loops once per
// announced argument before it has their bytes, so "*1000000000000000000\r\n"
// keeps a connection's goroutine busy for ever; this one checks every
// announced length against a limit first, and grows its buffer only as
// bytes arrive.

// Limits of one request, as Redis sets them.
const (
	maxArgs   = 1 << 20  // arguments of one command (Redis: 1024*1024)
	maxInline = 64 << 10 // an inline command's line (Redis: 64 KiB)
)

// Buffer sizes: a reader starts with baseBuf bytes and keeps up to smallBuf
// of its own between commands; the bytes of a larger buffer beyond
// smallBuf are taken from its memory (the server's budget) and given back,
// with the buffer, once the command that needed them is read.
const (
	baseBuf  = 4 << 10
	smallBuf = 8 << 10
)

// memory lends a reader the bytes its buffer holds beyond smallBuf. take
// may wait for them, and fails when the reader should give up.
type memory interface {
	take(n int) error
	give(n int)
}

// errProtocol is a malformed request: the client is told and hung up on.
type errProtocol string

func (e errProtocol) Error() string { return string(e) }

// reader reads pipelined RESP commands: multibulk arrays of bulk strings,
// or inline commands (a line of words, as typed into telnet).
type reader struct {
	r          io.Reader
	buf        []byte
	start, end int // the bytes read and not yet parsed: buf[start:end]
	max        int // the most bytes one command may take
	argv       [][]byte
	mem        memory // nil: unbounded
	held       int    // bytes taken from mem
	part       partial
}

// partial is how far parse got in the command at rd.start that is not all
// buffered: of a multibulk of count arguments, done are whole and the
// next begins at off; of an inline command, the first off bytes hold no
// newline. Offsets are from rd.start.
type partial struct{ count, done, off int }

// newReader returns a reader of commands of at most max bytes from r,
// taking the bytes of its buffer beyond smallBuf from mem (nil: none
// needed). Its owner calls release when done with it.
func newReader(r io.Reader, max int, mem memory) *reader {
	return &reader{r: r, buf: make([]byte, baseBuf), max: max, mem: mem}
}

// pending reports whether part of a command is buffered.
func (rd *reader) pending() bool { return rd.end > rd.start }

// read returns the next commands: every complete one buffered, reading
// from the connection until there is at least one. A command's arguments
// alias the reader's buffer and are valid until the next call.
func (rd *reader) read(cmds [][][]byte) ([][][]byte, error) {
	cmds = cmds[:0]
	rd.argv = rd.argv[:0]
	for {
		for rd.start < rd.end {
			args, n, err := rd.parse(rd.buf[rd.start:rd.end])
			if err != nil {
				return nil, err
			}
			if n == 0 {
				break // incomplete
			}
			rd.start += n
			if args != nil {
				cmds = append(cmds, args)
			}
		}
		if len(cmds) > 0 {
			return cmds, nil
		}
		if err := rd.fill(); err != nil {
			return nil, err
		}
	}
}

// fill reads more bytes, first making room: the unparsed bytes move to the
// front, and the buffer doubles (up to max) only when they fill it. A
// buffer grown past smallBuf is swapped for a small one once the command
// that needed it is read, so that an idle connection holds little.
func (rd *reader) fill() error {
	pending := rd.end - rd.start
	if pending >= rd.max {
		return errProtocol(fmt.Sprintf("Protocol error: a command of more than %d bytes", rd.max))
	}
	switch {
	case len(rd.buf) > smallBuf && pending <= baseBuf:
		small := make([]byte, baseBuf)
		copy(small, rd.buf[rd.start:rd.end])
		rd.buf = small
		clear(rd.argv[:cap(rd.argv)])
		rd.release()
		if cap(rd.argv) > 1<<10 {
			rd.argv = nil
		}
	case rd.start > 0:
		copy(rd.buf, rd.buf[rd.start:rd.end])
	}
	rd.start, rd.end = 0, pending
	if rd.end == len(rd.buf) {
		size := min(2*len(rd.buf), rd.max)
		if err := rd.hold(size); err != nil {
			return err
		}
		grown := make([]byte, size)
		copy(grown, rd.buf[:rd.end])
		rd.buf = grown
		// The arguments of the partial command last parsed point into the
		// old buffer: they would keep it from being collected.
		clear(rd.argv[:cap(rd.argv)])
	}
	n, err := rd.r.Read(rd.buf[rd.end:])
	rd.end += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// hold takes from mem what a buffer of size bytes needs beyond smallBuf
// and what the reader holds already.
func (rd *reader) hold(size int) error {
	need := size - smallBuf - rd.held
	if need <= 0 || rd.mem == nil {
		return nil
	}
	if err := rd.mem.take(need); err != nil {
		return err
	}
	rd.held += need
	return nil
}

// release gives back to mem the bytes the reader holds.
func (rd *reader) release() {
	if rd.held > 0 {
		rd.mem.give(rd.held)
	}
	rd.held = 0
}

// parse parses one command at the start of b. It returns how many bytes
// it took, 0 when b holds only part of it; an empty line gives no
// arguments. A command that is not all there is parsed again from where
// the last call stopped (rd.part), so that one arriving in many small
// reads costs time in its length, not in its length squared.
func (rd *reader) parse(b []byte) ([][]byte, int, error) {
	if b[0] != '*' {
		return rd.inline(b)
	}
	count, i, err := header(b, 0, '*', maxArgs)
	if err != nil || i == 0 {
		return nil, 0, err
	}
	if count <= 0 {
		// "*0" and "*-1" are empty requests, which Redis skips.
		return nil, i, nil
	}
	// Check the arguments that have arrived since the last call, then,
	// once all are there, take them in a second pass.
	done, j := 0, i
	if rd.part.count == count {
		done, j = rd.part.done, rd.part.off
	}
	for ; done < count; done++ {
		if j >= len(b) {
			rd.part = partial{count, done, j}
			return nil, 0, nil
		}
		size, k, err := header(b, j, '$', rd.max)
		if err != nil {
			return nil, 0, err
		}
		if k == 0 || k+size+2 > len(b) {
			rd.part = partial{count, done, j}
			return nil, 0, nil
		}
		if b[k+size] != '\r' || b[k+size+1] != '\n' {
			return nil, 0, errProtocol("Protocol error: invalid bulk length")
		}
		j = k + size + 2
	}
	rd.part = partial{}
	first := len(rd.argv)
	for range count {
		size, k, _ := header(b, i, '$', rd.max)
		rd.argv = append(rd.argv, b[k:k+size:k+size])
		i = k + size + 2
	}
	return rd.argv[first:len(rd.argv):len(rd.argv)], i, nil
}

// header parses "<kind><n>\r\n" at b[i:]: n, and the index after it (0
// when incomplete). n must be at most max.
func header(b []byte, i int, kind byte, max int) (int, int, error) {
	if b[i] != kind {
		return 0, 0, errProtocol(fmt.Sprintf("Protocol error: expected '%c', got '%c'", kind, b[i]))
	}
	// The usual header, 1 to 9 digits then "\r\n", without a search and a
	// conversion (8% of the agent's CPU under pipelined GETs); anything else
	// takes the general path below.
	n, j := 0, i+1
	for j < len(b) && j-i <= 9 && b[j]-'0' <= 9 {
		n = n*10 + int(b[j]-'0')
		j++
	}
	if j > i+1 && j+1 < len(b) && b[j] == '\r' && b[j+1] == '\n' {
		if n > max {
			return 0, 0, errProtocol(fmt.Sprintf("Protocol error: invalid %s length", lengthName(kind)))
		}
		return n, j + 2, nil
	}
	end := bytes.IndexByte(b[i:min(len(b), i+32)], '\n')
	if end < 0 {
		if len(b)-i >= 32 {
			return 0, 0, errProtocol(fmt.Sprintf("Protocol error: invalid %s length", lengthName(kind)))
		}
		return 0, 0, nil
	}
	end += i
	n, err := strconv.Atoi(string(b[i+1 : end-boolInt(end > i+1 && b[end-1] == '\r')]))
	if err != nil || n > max || b[end-1] != '\r' || (kind == '$' && n < 0) {
		return 0, 0, errProtocol(fmt.Sprintf("Protocol error: invalid %s length", lengthName(kind)))
	}
	return n, end + 1, nil
}

func lengthName(kind byte) string {
	if kind == '*' {
		return "multibulk"
	}
	return "bulk"
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// inline parses a line of words separated by spaces. A line not all
// there is searched again from where the last call stopped.
func (rd *reader) inline(b []byte) ([][]byte, int, error) {
	from := min(rd.part.off, len(b))
	end := bytes.IndexByte(b[from:min(len(b), maxInline)], '\n')
	if end < 0 {
		if len(b) >= maxInline {
			return nil, 0, errProtocol("Protocol error: too big inline request")
		}
		rd.part = partial{off: len(b)}
		return nil, 0, nil
	}
	end += from
	rd.part = partial{}
	first := len(rd.argv)
	rd.argv = append(rd.argv, bytes.Fields(b[:end])...)
	if len(rd.argv) == first {
		return nil, end + 1, nil
	}
	return rd.argv[first:len(rd.argv):len(rd.argv)], end + 1, nil
}

// isProtocol reports whether err is a malformed request.
func isProtocol(err error) bool {
	var p errProtocol
	return errors.As(err, &p)
}
