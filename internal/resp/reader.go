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
}

func newReader(r io.Reader, max int) *reader {
	return &reader{r: r, buf: make([]byte, 4096), max: max}
}

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
// front, and the buffer doubles (up to max) only when they fill it.
func (rd *reader) fill() error {
	pending := rd.end - rd.start
	if pending >= rd.max {
		return errProtocol(fmt.Sprintf("Protocol error: a command of more than %d bytes", rd.max))
	}
	if rd.start > 0 {
		copy(rd.buf, rd.buf[rd.start:rd.end])
		rd.start, rd.end = 0, pending
	}
	if rd.end == len(rd.buf) {
		grown := make([]byte, min(2*len(rd.buf), rd.max))
		copy(grown, rd.buf[:rd.end])
		rd.buf = grown
	} else if pending == 0 && len(rd.buf) > 64<<10 {
		rd.buf = make([]byte, 4096) // a large command passed: give it back
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

// parse parses one command at the start of b. It returns how many bytes
// it took, 0 when b holds only part of it; an empty line gives no
// arguments.
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
	first := len(rd.argv)
	for range count {
		if i >= len(b) {
			rd.argv = rd.argv[:first]
			return nil, 0, nil
		}
		size, j, err := header(b, i, '$', rd.max)
		if err != nil {
			return nil, 0, err
		}
		if j == 0 || j+size+2 > len(b) {
			rd.argv = rd.argv[:first]
			return nil, 0, nil
		}
		if size < 0 || b[j+size] != '\r' || b[j+size+1] != '\n' {
			return nil, 0, errProtocol("Protocol error: invalid bulk length")
		}
		rd.argv = append(rd.argv, b[j:j+size:j+size])
		i = j + size + 2
	}
	return rd.argv[first:len(rd.argv):len(rd.argv)], i, nil
}

// header parses "<kind><n>\r\n" at b[i:]: n, and the index after it (0
// when incomplete). n must be at most max.
func header(b []byte, i int, kind byte, max int) (int, int, error) {
	if b[i] != kind {
		return 0, 0, errProtocol(fmt.Sprintf("Protocol error: expected '%c', got '%c'", kind, b[i]))
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

// inline parses a line of words separated by spaces.
func (rd *reader) inline(b []byte) ([][]byte, int, error) {
	end := bytes.IndexByte(b[:min(len(b), maxInline)], '\n')
	if end < 0 {
		if len(b) >= maxInline {
			return nil, 0, errProtocol("Protocol error: too big inline request")
		}
		return nil, 0, nil
	}
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
