package proto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Hand-written msgpack for the messages of the write path, which every op
// crosses once or twice: reflection-based encoding cost more than the rest
// of the op. The output is ordinary msgpack (arrays of ints and strings),
// the same a generic encoder produces for these as_array structs, but for
// an Op without a TTL: it is written without its last element, as the Op
// of earlier versions, which nodes running them read.

var errShort = errors.New("truncated message")

func appendArrayLen(b []byte, n int) []byte {
	switch {
	case n <= 15:
		return append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xdc), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
	}
}

func appendInt(b []byte, n int64) []byte {
	switch {
	case n >= 0 && n <= 0x7f:
		return append(b, byte(n))
	case n < 0 && n >= -32:
		return append(b, byte(n))
	case n >= math.MinInt32 && n <= math.MaxInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(int32(n)))
	default:
		return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(n))
	}
}

func appendString(b []byte, s string) []byte {
	switch n := len(s); {
	case n <= 31:
		b = append(b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		b = append(b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

func appendBytesArray(b []byte, vs [][]byte) []byte {
	if vs == nil {
		return append(b, 0xc0) // nil
	}
	b = appendArrayLen(b, len(vs))
	for _, v := range vs {
		switch n := len(v); {
		case n <= math.MaxUint8:
			b = append(b, 0xc4, byte(n))
		case n <= math.MaxUint16:
			b = binary.BigEndian.AppendUint16(append(b, 0xc5), uint16(n))
		default:
			b = binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(n))
		}
		b = append(b, v...)
	}
	return b
}

// reader decodes msgpack values from a byte slice; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

func (r *reader) next(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.err = errShort
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) byte() byte {
	b := r.next(1)
	if b == nil {
		return 0
	}
	return b[0]
}

// arrayLen reads an array header; its length is bounded by the bytes left,
// since every element takes at least one byte.
func (r *reader) arrayLen() int {
	c := r.byte()
	var n int
	switch {
	case c&0xf0 == 0x90:
		n = int(c & 0x0f)
	case c == 0xdc:
		if b := r.next(2); b != nil {
			n = int(binary.BigEndian.Uint16(b))
		}
	case c == 0xdd:
		if b := r.next(4); b != nil {
			n = int(binary.BigEndian.Uint32(b))
		}
	case c == 0xc0: // nil
		return 0
	default:
		r.fail("expected an array, got 0x%02x", c)
	}
	// n < 0: a 32-bit length above MaxInt32 on a 32-bit platform.
	if r.err == nil && (n < 0 || n > len(r.b)) {
		r.err = errShort
		return 0
	}
	return n
}

func (r *reader) int64() int64 {
	c := r.byte()
	switch {
	case c <= 0x7f:
		return int64(c)
	case c >= 0xe0:
		return int64(int8(c))
	}
	switch c {
	case 0xcc:
		return int64(r.byte())
	case 0xcd:
		if b := r.next(2); b != nil {
			return int64(binary.BigEndian.Uint16(b))
		}
	case 0xce:
		if b := r.next(4); b != nil {
			return int64(binary.BigEndian.Uint32(b))
		}
	case 0xcf:
		if b := r.next(8); b != nil {
			v := binary.BigEndian.Uint64(b)
			if v > math.MaxInt64 {
				r.fail("integer %d overflows int64", v)
			}
			return int64(v)
		}
	case 0xd0:
		return int64(int8(r.byte()))
	case 0xd1:
		if b := r.next(2); b != nil {
			return int64(int16(binary.BigEndian.Uint16(b)))
		}
	case 0xd2:
		if b := r.next(4); b != nil {
			return int64(int32(binary.BigEndian.Uint32(b)))
		}
	case 0xd3:
		if b := r.next(8); b != nil {
			return int64(binary.BigEndian.Uint64(b))
		}
	default:
		r.fail("expected an integer, got 0x%02x", c)
	}
	return 0
}

func (r *reader) string() string {
	c := r.byte()
	var n int
	switch {
	case c&0xe0 == 0xa0:
		n = int(c & 0x1f)
	case c == 0xd9, c == 0xc4: // str8, bin8
		n = int(r.byte())
	case c == 0xda, c == 0xc5:
		if b := r.next(2); b != nil {
			n = int(binary.BigEndian.Uint16(b))
		}
	case c == 0xdb, c == 0xc6:
		if b := r.next(4); b != nil {
			n = int(binary.BigEndian.Uint32(b))
		}
	case c == 0xc0:
		return ""
	default:
		r.fail("expected a string, got 0x%02x", c)
	}
	return string(r.next(n))
}

// bytesArray reads an array of bin (or str) values, copied into one arena
// sized exactly for them: one allocation for the lot, not one per value.
func (r *reader) bytesArray() [][]byte {
	if r.err == nil && len(r.b) > 0 && r.b[0] == 0xc0 {
		r.b = r.b[1:]
		return nil
	}
	n := r.arrayLen()
	if r.err != nil {
		return nil
	}
	// First pass, on a copy of the reader: how many bytes in all.
	peek := *r
	total := 0
	for i := 0; i < n && peek.err == nil; i++ {
		total += len(peek.binary())
	}
	if peek.err != nil {
		r.err = peek.err
		return nil
	}
	out := make([][]byte, n)
	arena := make([]byte, 0, total)
	for i := range out {
		start := len(arena)
		arena = append(arena, r.binary()...)
		out[i] = arena[start:len(arena):len(arena)]
	}
	return out
}

// binary reads one bin or str value and returns its bytes, aliasing the
// message.
func (r *reader) binary() []byte {
	c := r.byte()
	var l int
	switch {
	case c == 0xc4 || c == 0xd9:
		l = int(r.byte())
	case c == 0xc5 || c == 0xda:
		if b := r.next(2); b != nil {
			l = int(binary.BigEndian.Uint16(b))
		}
	case c == 0xc6 || c == 0xdb:
		if b := r.next(4); b != nil {
			l = int(binary.BigEndian.Uint32(b))
		}
	case c&0xe0 == 0xa0:
		l = int(c & 0x1f)
	default:
		r.fail("expected bytes, got 0x%02x", c)
	}
	return r.next(l)
}

// fields reads an array header and checks it holds exactly want elements.
func (r *reader) fields(msg string, want int) {
	if n := r.arrayLen(); r.err == nil && n != want {
		r.fail("%s: %d fields, want %d", msg, n, want)
	}
}

// end reports the first error, or trailing bytes after the message.
func (r *reader) end(msg string) error {
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return fmt.Errorf("%s: %w", msg, r.err)
	}
	return nil
}

// AppendBody implements transport.BodyAppender.
func (m IncrRequest) AppendBody(b []byte) []byte {
	b = appendArrayLen(b, 3)
	b = appendString(b, m.Store)
	b = appendString(b, m.Key)
	return appendInt(b, m.Delta)
}

// DecodeBody implements transport.BodyDecoder.
func (m *IncrRequest) DecodeBody(b []byte) error {
	r := reader{b: b}
	r.fields("incr request", 3)
	m.Store, m.Key, m.Delta = r.string(), r.string(), r.int64()
	return r.end("incr request")
}

// AppendBody implements transport.BodyAppender.
func (m KeyRequest) AppendBody(b []byte) []byte {
	b = appendArrayLen(b, 2)
	b = appendString(b, m.Store)
	return appendString(b, m.Key)
}

// DecodeBody implements transport.BodyDecoder.
func (m *KeyRequest) DecodeBody(b []byte) error {
	r := reader{b: b}
	r.fields("key request", 2)
	m.Store, m.Key = r.string(), r.string()
	return r.end("key request")
}

// AppendBody implements transport.BodyAppender.
func (m *ForwardRequest) AppendBody(b []byte) []byte {
	b = appendArrayLen(b, 1)
	b = appendArrayLen(b, len(m.Ops))
	for i := range m.Ops {
		op := &m.Ops[i]
		if op.TTL == 0 {
			b = appendArrayLen(b, opFieldsNoTTL)
		} else {
			b = appendArrayLen(b, opFields)
		}
		b = appendInt(b, int64(op.Kind))
		b = appendString(b, op.Store)
		b = appendString(b, op.Key)
		b = appendInt(b, op.Delta)
		b = appendBytesArray(b, op.Values)
		if op.TTL != 0 {
			b = appendInt(b, int64(op.TTL))
		}
	}
	return b
}

// An Op on the wire: every field, or all but the TTL when it is zero.
const (
	opFields      = 6
	opFieldsNoTTL = 5
)

// DecodeBody implements transport.BodyDecoder.
func (m *ForwardRequest) DecodeBody(b []byte) error {
	r := reader{b: b}
	r.fields("forward request", 1)
	n := r.arrayLen()
	m.Ops = make([]Op, n)
	for i := 0; i < n && r.err == nil; i++ {
		fields := r.arrayLen()
		if r.err == nil && fields != opFields && fields != opFieldsNoTTL {
			r.fail("op: %d fields, want %d or %d", fields, opFieldsNoTTL, opFields)
		}
		kind := r.int64()
		if kind < 0 || kind > math.MaxUint8 {
			r.fail("op kind %d out of range", kind)
		}
		m.Ops[i] = Op{Kind: uint8(kind), Store: r.string(), Key: r.string(), Delta: r.int64(), Values: r.bytesArray()}
		if fields == opFields {
			m.Ops[i].TTL = time.Duration(r.int64())
		}
	}
	return r.end("forward request")
}

// AppendBody implements transport.BodyAppender.
func (m *ForwardResponse) AppendBody(b []byte) []byte {
	b = appendArrayLen(b, 1)
	b = appendArrayLen(b, len(m.Results))
	for i := range m.Results {
		res := &m.Results[i]
		b = appendArrayLen(b, 4)
		b = appendString(b, res.Code)
		b = appendString(b, res.Message)
		b = appendInt(b, res.Count)
		b = appendBytesArray(b, res.Values)
	}
	return b
}

// DecodeBody implements transport.BodyDecoder.
func (m *ForwardResponse) DecodeBody(b []byte) error {
	r := reader{b: b}
	r.fields("forward response", 1)
	n := r.arrayLen()
	m.Results = make([]OpResult, n)
	for i := 0; i < n && r.err == nil; i++ {
		r.fields("op result", 4)
		m.Results[i] = OpResult{Code: r.string(), Message: r.string(), Count: r.int64(), Values: r.bytesArray()}
	}
	return r.end("forward response")
}

// AppendBody implements transport.BodyAppender.
func (m InsertRequest) AppendBody(b []byte) []byte {
	b = appendArrayLen(b, 3)
	b = appendString(b, m.Store)
	b = appendString(b, m.Key)
	return appendBytesArray(b, m.Values)
}

// DecodeBody implements transport.BodyDecoder. The values are copies: they
// do not alias b.
func (m *InsertRequest) DecodeBody(b []byte) error {
	r := reader{b: b}
	r.fields("insert request", 3)
	m.Store, m.Key, m.Values = r.string(), r.string(), r.bytesArray()
	return r.end("insert request")
}
