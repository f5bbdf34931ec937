package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// A frame on the wire is a 4-byte big-endian length N followed by N bytes:
// a msgpack array (the header) and then, for frames that carry one, a single
// msgpack value (the body). The body is never re-encoded inside the header, so
// a node can relay a request or response body without decoding it.

const (
	frameLenSize = 4

	// headerFields is the number of elements of the header array.
	headerFields = 7

	// maxHelloSize bounds a handshake frame, so that a peer that has not
	// identified itself cannot make us allocate MaxFrameSize bytes.
	maxHelloSize = 64 << 10
)

// Frame kinds.
const (
	kindHello    uint8 = 1 // handshake, both directions; body is a Hello
	kindRequest  uint8 = 2
	kindResponse uint8 = 3
)

// Request flags.
const (
	// FlagForwarded marks a request a node forwarded on behalf of a caller.
	// The receiver must not forward it again (hop limit 1).
	FlagForwarded uint8 = 1 << 0
)

// header is the decoded first part of a frame.
type header struct {
	Kind    uint8
	ID      uint64
	Method  string
	Flags   uint8
	Timeout int64  // requests: nanoseconds left until the caller's deadline, 0 for none
	Code    string // responses: error code, "" on success
	Message string // responses: error message
}

// appendFrame appends one frame (length prefix, header, body) to dst.
// body must be a complete msgpack value or empty.
func appendFrame(dst []byte, h *header, body []byte) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = appendHeader(dst, h)
	dst = append(dst, body...)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-frameLenSize))
	return dst
}

// fixLength rewrites the length prefix of a frame that starts at frame[0],
// after its body was appended.
func fixLength(frame []byte) {
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-frameLenSize))
}

// appendHeader appends h as a msgpack array. It is written by hand because it
// runs once per op on the hot path.
func appendHeader(b []byte, h *header) []byte {
	b = append(b, 0x90|headerFields) // fixarray
	b = appendUint(b, uint64(h.Kind))
	b = appendUint(b, h.ID)
	b = appendString(b, h.Method)
	b = appendUint(b, uint64(h.Flags))
	b = appendInt(b, h.Timeout)
	b = appendString(b, h.Code)
	b = appendString(b, h.Message)
	return b
}

func appendUint(b []byte, n uint64) []byte {
	switch {
	case n <= 0x7f:
		return append(b, byte(n))
	case n <= 0xff:
		return append(b, 0xcc, byte(n))
	case n <= 0xffff:
		return append(b, 0xcd, byte(n>>8), byte(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, 0xcf), n)
	}
}

func appendInt(b []byte, n int64) []byte {
	if n >= 0 {
		return appendUint(b, uint64(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(n))
}

func appendString(b []byte, s string) []byte {
	switch n := len(s); {
	case n <= 31:
		b = append(b, 0xa0|byte(n))
	case n <= 0xff:
		b = append(b, 0xd9, byte(n))
	case n <= 0xffff:
		b = append(b, 0xda, byte(n>>8), byte(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

// ErrMalformedFrame is returned when a frame cannot be decoded. The
// connection it arrived on is closed; nothing else is affected.
var ErrMalformedFrame = errors.New("transport: malformed frame")

// ErrFrameTooLarge is returned when a frame exceeds the configured maximum
// size, on either side of a connection.
var ErrFrameTooLarge = errors.New("transport: frame too large")

// decoderPool holds msgpack decoders with a reusable reader, so decoding a
// header allocates nothing.
var decoderPool = sync.Pool{New: func() any {
	d := &frameDecoder{}
	d.dec = msgpack.NewDecoder(&d.r)
	return d
}}

type frameDecoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

// decodeFrame splits a frame payload (without its length prefix) into its
// header and body. The body aliases buf.
func decodeFrame(buf []byte) (header, []byte, error) {
	d := decoderPool.Get().(*frameDecoder)
	defer func() {
		d.r.Reset(nil) // do not keep buf alive in the pool
		decoderPool.Put(d)
	}()
	d.r.Reset(buf)
	d.dec.ResetReader(&d.r)

	var h header
	n, err := d.dec.DecodeArrayLen()
	if err != nil {
		return h, nil, fmt.Errorf("%w: header: %w", ErrMalformedFrame, err)
	}
	if n != headerFields {
		return h, nil, fmt.Errorf("%w: header has %d fields, want %d", ErrMalformedFrame, n, headerFields)
	}
	if h.Kind, err = decodeByte(d.dec); err != nil {
		return h, nil, fmt.Errorf("%w: kind: %w", ErrMalformedFrame, err)
	}
	if h.ID, err = d.dec.DecodeUint64(); err != nil {
		return h, nil, fmt.Errorf("%w: id: %w", ErrMalformedFrame, err)
	}
	if h.Method, err = d.dec.DecodeString(); err != nil {
		return h, nil, fmt.Errorf("%w: method: %w", ErrMalformedFrame, err)
	}
	if h.Flags, err = decodeByte(d.dec); err != nil {
		return h, nil, fmt.Errorf("%w: flags: %w", ErrMalformedFrame, err)
	}
	if h.Timeout, err = d.dec.DecodeInt64(); err != nil {
		return h, nil, fmt.Errorf("%w: timeout: %w", ErrMalformedFrame, err)
	}
	if h.Code, err = d.dec.DecodeString(); err != nil {
		return h, nil, fmt.Errorf("%w: code: %w", ErrMalformedFrame, err)
	}
	if h.Message, err = d.dec.DecodeString(); err != nil {
		return h, nil, fmt.Errorf("%w: message: %w", ErrMalformedFrame, err)
	}
	switch h.Kind {
	case kindHello, kindRequest, kindResponse:
	default:
		return h, nil, fmt.Errorf("%w: unknown kind %d", ErrMalformedFrame, h.Kind)
	}
	body := buf[len(buf)-d.r.Len():]
	return h, body, nil
}

// decodeByte decodes an unsigned integer that must fit a byte. The msgpack
// decoder's DecodeUint8 truncates, which would read kind 258 as a request.
func decodeByte(dec *msgpack.Decoder) (uint8, error) {
	n, err := dec.DecodeUint64()
	if err != nil {
		return 0, err
	}
	if n > 0xff {
		return 0, fmt.Errorf("%d does not fit a byte", n)
	}
	return uint8(n), nil
}

// encodeBody marshals v as a msgpack value appended to dst. Raw values are
// appended as they are.
func encodeBody(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return dst, nil
	case Raw:
		return append(dst, v...), nil
	case BodyAppender:
		return v.AppendBody(dst), nil
	}
	buf := bytes.NewBuffer(dst)
	enc := msgpack.GetEncoder()
	defer func() {
		enc.Reset(nil) // do not keep buf, which may be large, alive in the pool
		msgpack.PutEncoder(enc)
	}()
	enc.Reset(buf)
	if err := enc.Encode(v); err != nil {
		return dst, err
	}
	return buf.Bytes(), nil
}

// decodeBody unmarshals body into v. A *Raw receives a copy of the bytes;
// any other v gets a body checked by checkBody first.
func decodeBody(body []byte, v any) error {
	switch v := v.(type) {
	case nil:
		return nil
	case *Raw:
		*v = append((*v)[:0], body...)
		return nil
	}
	if len(body) == 0 {
		return fmt.Errorf("%w: empty body", ErrMalformedFrame)
	}
	if d, ok := v.(BodyDecoder); ok {
		// Hand-written decoders read only what they expect, bounds-checked.
		if err := d.DecodeBody(body); err != nil {
			return fmt.Errorf("%w: body: %w", ErrMalformedFrame, err)
		}
		return nil
	}
	if err := checkBody(body); err != nil {
		return fmt.Errorf("%w: body: %w", ErrMalformedFrame, err)
	}
	return msgpack.Unmarshal(body, v)
}

// BodyAppender is implemented by message types that encode themselves as
// one msgpack value, appended to b, without reflection: the hot path's
// messages do.
type BodyAppender interface {
	AppendBody(b []byte) []byte
}

// BodyDecoder is implemented by message types that decode themselves from
// a msgpack body without reflection. DecodeBody must not keep b.
type BodyDecoder interface {
	DecodeBody(b []byte) error
}

// Raw is a msgpack value that is already encoded. Passed as a request or
// response it is sent as it is; as a *Raw destination it receives the body
// undecoded. It lets a node relay a body without decoding it.
type Raw []byte
