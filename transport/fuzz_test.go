package transport

import (
	"bufio"
	"bytes"
	"encoding/binary"
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

// fuzzMax is FuzzReadFrame's frame size limit.
const fuzzMax = 64

// FuzzReadFrame feeds the incremental frame reader a stream arriving in
// pieces of a size the fuzzer picks, with a server's in-flight budget.
func FuzzReadFrame(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(frameOf(s), uint8(0))
		f.Add(append(frameOf(s), frameOf(s)...), uint8(3))
		f.Add(frameOf(s)[:len(frameOf(s))-1], uint8(1)) // truncated payload
	}
	f.Add(lengthOnly(1<<30), uint8(0))                                 // huge declared length
	f.Add(append(lengthOnly(1<<32-1), 1, 2, 3), uint8(1))              // the largest length
	f.Add(append(lengthOnly(fuzzMax+1), make([]byte, 8)...), uint8(2)) // just above the limit
	f.Add(append(lengthOnly(fuzzMax), make([]byte, fuzzMax-3)...), uint8(0))
	f.Add([]byte{0, 0, 1}, uint8(0))
	f.Fuzz(func(t *testing.T, in []byte, piece uint8) {
		var src io.Reader = bytes.NewReader(in)
		if piece > 0 {
			src = &pieceReader{r: src, n: int(piece)}
		}
		counted := &countingReader{r: src}
		fr := newFrameReader(bufio.NewReaderSize(counted, 16), fuzzMax)
		fr.small = 16
		fr.budget = newBudget(fuzzMax / 2) // frames above it proceed alone
		defer fr.release()
		consumed := 0
		for {
			buf, err := fr.next()
			if err != nil {
				left := len(in) - consumed
				switch {
				case errors.Is(err, io.EOF):
					if left != 0 {
						t.Fatalf("EOF with %d bytes left", left)
					}
				case errors.Is(err, io.ErrUnexpectedEOF):
					if counted.n != len(in) {
						t.Fatalf("unexpected EOF with %d bytes unread", len(in)-counted.n)
					}
				case errors.Is(err, ErrFrameTooLarge):
					if left < frameLenSize || int(binary.BigEndian.Uint32(in[consumed:])) <= fuzzMax {
						t.Fatalf("frame too large at %d: %v", consumed, err)
					}
				default:
					t.Fatalf("next: %v", err)
				}
				if used, _ := fr.budget.inUse(); used > 0 && fr.held == 0 {
					t.Fatalf("budget holds %d bytes after a failed frame", used)
				}
				return
			}
			if len(buf) > fuzzMax {
				t.Fatalf("frame of %d bytes above the limit %d", len(buf), fuzzMax)
			}
			if want := int(binary.BigEndian.Uint32(in[consumed:])); want != len(buf) || !bytes.Equal(buf, in[consumed+frameLenSize:][:want]) {
				t.Fatalf("frame at %d: got %d bytes, want %d", consumed, len(buf), want)
			}
			if c := cap(buf); len(buf) > fr.small && c > max(firstChunk, 2*len(buf)) {
				t.Fatalf("buffer of %d bytes for a %d byte frame", c, len(buf))
			}
			consumed += frameLenSize + len(buf)
			_, _, _ = decodeFrame(buf)
		}
	})
}

// pieceReader returns at most n bytes per Read.
type pieceReader struct {
	r io.Reader
	n int
}

func (p *pieceReader) Read(b []byte) (int, error) { return p.r.Read(b[:min(len(b), p.n)]) }

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += n
	return n, err
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
