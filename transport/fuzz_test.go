package transport

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// fuzzSeeds returns frame payloads (without length prefix) of every kind,
// plus truncated and garbage ones.
func fuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	hello := mustEncode(t, Hello{Protocol: ProtocolVersion, Cluster: "c", Name: "n"})
	req := mustEncode(t, &echoMsg{ID: 3, Payload: "p", Data: []byte{1}})
	for _, f := range []struct {
		h    header
		body []byte
	}{
		{header{Kind: kindHello}, hello},
		{header{Kind: kindHello, Code: "refused", Message: "other cluster"}, nil},
		{header{Kind: kindRequest, ID: 1, Method: "echo", Timeout: 1e9}, req},
		{header{Kind: kindRequest, ID: 1 << 40, Method: "incr", Flags: FlagForwarded, Timeout: -5}, []byte{0x01}},
		{header{Kind: kindResponse, ID: 1}, req},
		{header{Kind: kindResponse, ID: 300, Code: "not_owner", Message: "moved"}, nil},
	} {
		payload := appendFrame(nil, &f.h, f.body)[frameLenSize:]
		seeds = append(seeds, payload, payload[:len(payload)/2], payload[:1])
	}
	for _, h := range sampleHeaders() {
		if len(h.Method) < 1000 {
			seeds = append(seeds, appendHeader(nil, &h))
		}
	}
	return append(seeds,
		nil,
		[]byte("GET / HTTP/1.1\r\n"),
		[]byte{0x97, 0xcd, 0x01, 0x02, 0x01, 0xa0, 0x00, 0x00, 0xa0, 0xa0},
		[]byte{0x97, 0x02, 0x01, 0xdb, 0xff, 0xff, 0xff, 0xff},
		[]byte{0xc1, 0xc1, 0xc1},
	)
}

func FuzzDecodeFrame(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, buf []byte) {
		h, body, err := decodeFrame(buf)
		if err != nil {
			if !errors.Is(err, ErrMalformedFrame) {
				t.Fatalf("error %v does not wrap ErrMalformedFrame", err)
			}
			return
		}
		switch h.Kind {
		case kindHello, kindRequest, kindResponse:
		default:
			t.Fatalf("accepted kind %d", h.Kind)
		}
		if len(body) > len(buf) || !bytes.Equal(body, buf[len(buf)-len(body):]) {
			t.Fatalf("body %x is not the tail of the frame %x", body, buf)
		}
		// Our encoding of what we decoded decodes to the same header, and
		// the body follows it untouched.
		again := appendHeader(nil, &h)
		h2, body2, err := decodeFrame(append(again, body...))
		if err != nil {
			t.Fatalf("decoding the re-encoded header %+v: %v", h, err)
		}
		if h2 != h {
			t.Fatalf("re-encoded header decodes to %+v, want %+v", h2, h)
		}
		if !bytes.Equal(body2, body) {
			t.Fatalf("body after re-encoding %x, want %x", body2, body)
		}
		// Decoding a body never panics either.
		var v any
		_ = decodeBody(body, &v)
		var hello Hello
		_ = decodeBody(body, &hello)
	})
}

func FuzzReadFrame(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(frameOf(s))
		f.Add(append(frameOf(s), frameOf(s)...))
	}
	f.Add(lengthOnly(1 << 30))
	f.Add([]byte{0, 0, 1})
	const max = 64
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		var buf []byte
		for {
			before := r.Len()
			var err error
			buf, err = readFrame(r, buf, max)
			if err != nil {
				switch {
				case errors.Is(err, io.EOF):
					if before != 0 {
						t.Fatalf("EOF with %d bytes left", before)
					}
				case errors.Is(err, io.ErrUnexpectedEOF):
					if r.Len() != 0 {
						t.Fatalf("unexpected EOF with %d bytes left", r.Len())
					}
				case errors.Is(err, ErrFrameTooLarge):
					if before-r.Len() != frameLenSize {
						t.Fatalf("read %d bytes of a too large frame, want only its length", before-r.Len())
					}
				default:
					t.Fatalf("readFrame: %v", err)
				}
				return
			}
			if len(buf) > max {
				t.Fatalf("frame of %d bytes above the limit %d", len(buf), max)
			}
			if consumed := before - r.Len(); consumed != frameLenSize+len(buf) {
				t.Fatalf("consumed %d bytes for a %d byte frame", consumed, len(buf))
			}
			_, _, _ = decodeFrame(buf)
		}
	})
}

// FuzzCheckBody compares checkBody with the msgpack decoder's own Skip: they
// agree on what is one complete value, except that checkBody refuses deep
// nesting. What checkBody accepts decodes without unbounded allocation.
func FuzzCheckBody(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	for _, v := range []any{nil, 1, -1, 1.5, "s", []byte{1}, []any{1, "x", nil}, map[string]any{"k": []any{1.5, true}}} {
		b, err := msgpack.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xdd, 0x7f, 0xff, 0xff, 0xff})
	f.Add([]byte{0xd8, 0x01, 0x00})
	f.Add([]byte{0xc7, 0x02, 0x01, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		err := checkBody(b)
		r := bytes.NewReader(b)
		serr := msgpack.NewDecoder(r).Skip()
		libOK := len(b) > 0 && serr == nil && r.Len() == 0
		switch {
		case err == nil && !libOK:
			t.Fatalf("checkBody accepts %x, msgpack skips it with %v and %d bytes left", b, serr, r.Len())
		case err != nil && libOK && !errors.Is(err, errTooDeep):
			t.Fatalf("checkBody refuses %x (%v), msgpack skips it", b, err)
		}
		if err == nil {
			var v any
			_ = msgpack.Unmarshal(b, &v)
		}
	})
}
