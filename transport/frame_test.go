package transport

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
)

// sampleHeaders covers every integer and string width of the header codec.
func sampleHeaders() []header {
	return []header{
		{Kind: kindHello},
		{Kind: kindRequest, ID: 1, Method: "incr", Timeout: int64(time.Second)},
		{Kind: kindRequest, ID: 0x80, Method: strings.Repeat("m", 31), Flags: FlagForwarded, Timeout: 0x7f},
		{Kind: kindRequest, ID: 0xff, Method: strings.Repeat("m", 32), Flags: 0xff, Timeout: 0x100},
		{Kind: kindRequest, ID: 0x100, Method: strings.Repeat("m", 256), Timeout: 0x10000},
		{Kind: kindRequest, ID: 0x10000, Method: strings.Repeat("m", 65536), Timeout: math.MaxInt64},
		{Kind: kindRequest, ID: math.MaxUint32 + 1, Timeout: -1},
		{Kind: kindResponse, ID: math.MaxUint64, Timeout: math.MinInt64},
		{Kind: kindResponse, ID: 9, Code: "not_owner", Message: "partition moved to n2 ☃"},
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	bodies := []struct {
		name string
		v    any
	}{
		{"no body", nil},
		{"int", 42},
		{"struct", &echoMsg{ID: 1, Payload: "p"}},
	}
	for i, h := range sampleHeaders() {
		for _, b := range bodies {
			t.Run(fmt.Sprintf("%d/%s", i, b.name), func(t *testing.T) {
				body := mustEncode(t, b.v)
				frame := appendFrame([]byte("prefix"), &h, body)
				frame = frame[len("prefix"):]
				got, err := readFrame(bufio.NewReader(bytes.NewReader(frame)), DefaultMaxFrameSize)
				if err != nil {
					t.Fatalf("readFrame: %v", err)
				}
				gh, gbody, err := decodeFrame(got)
				if err != nil {
					t.Fatalf("decodeFrame: %v", err)
				}
				if gh != h {
					t.Fatalf("header %+v, want %+v", gh, h)
				}
				if !bytes.Equal(gbody, body) {
					t.Fatalf("body %x, want %x", gbody, body)
				}
				// The hand-written header is plain msgpack.
				var fields []any
				if err := msgpack.Unmarshal(appendHeader(nil, &h), &fields); err != nil || len(fields) != headerFields {
					t.Fatalf("msgpack reads the header as %v, %v", fields, err)
				}
			})
		}
	}
}

func TestDecodeFrameErrors(t *testing.T) {
	valid := appendHeader(nil, &header{Kind: kindRequest, ID: 1, Method: "m"})
	tests := []struct {
		name string
		buf  []byte
	}{
		{"empty", nil},
		{"not an array", []byte{0xa1, 'x'}},
		{"nil", []byte{0xc0}},
		{"6 fields", []byte{0x96, 1, 1, 0xa0, 0, 0, 0xa0}},
		{"8 fields", []byte{0x98, 1, 1, 0xa0, 0, 0, 0xa0, 0xa0, 0xa0}},
		{"kind 0", []byte{0x97, 0, 1, 0xa0, 0, 0, 0xa0, 0xa0}},
		{"kind 4", []byte{0x97, 4, 1, 0xa0, 0, 0, 0xa0, 0xa0}},
		{"kind 258", []byte{0x97, 0xcd, 1, 2, 1, 0xa0, 0, 0, 0xa0, 0xa0}},
		{"negative kind", []byte{0x97, 0xfe, 1, 0xa0, 0, 0, 0xa0, 0xa0}},
		{"flags 256", []byte{0x97, 2, 1, 0xa0, 0xcd, 1, 0, 0, 0xa0, 0xa0}},
		{"method is an int", []byte{0x97, 2, 1, 5, 0, 0, 0xa0, 0xa0}},
		{"id is a string", []byte{0x97, 2, 0xa1, 'x', 0xa0, 0, 0, 0xa0, 0xa0}},
		{"string longer than the frame", []byte{0x97, 2, 1, 0xdb, 0xff, 0xff, 0xff, 0xff}},
	}
	for n := range len(valid) {
		tests = append(tests, struct {
			name string
			buf  []byte
		}{fmt.Sprintf("truncated to %d", n), valid[:n]})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := decodeFrame(tt.buf); !errors.Is(err, ErrMalformedFrame) {
				t.Fatalf("decodeFrame(%x): %v, want ErrMalformedFrame", tt.buf, err)
			}
		})
	}
}

func TestReadFrame(t *testing.T) {
	const max = 1024
	tests := []struct {
		name    string
		in      []byte
		want    []byte
		wantErr error
	}{
		{"empty stream", nil, nil, io.EOF},
		{"short length", []byte{0, 0}, nil, io.ErrUnexpectedEOF},
		{"zero length", frameOf(nil), []byte{}, nil},
		{"exactly max", frameOf(bytes.Repeat([]byte{7}, max)), bytes.Repeat([]byte{7}, max), nil},
		{"one above max", frameOf(bytes.Repeat([]byte{7}, max+1)), nil, ErrFrameTooLarge},
		{"huge length", lengthOnly(math.MaxUint32), nil, ErrFrameTooLarge},
		{"truncated payload", frameOf([]byte("hello"))[:7], nil, io.ErrUnexpectedEOF},
	}
	// The payload arrives whole, or a byte at a time, or in halves.
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"halves":   iotest.HalfReader,
	}
	for _, tt := range tests {
		for rname, wrap := range readers {
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				fr := newFrameReader(bufio.NewReaderSize(wrap(bytes.NewReader(tt.in)), 16), max)
				got, err := fr.next()
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("next: %v, want %v", err, tt.wantErr)
				}
				if err == nil && !bytes.Equal(got, tt.want) {
					t.Fatalf("got %d bytes, want %d", len(got), len(tt.want))
				}
				fr.release()
			})
		}
	}
	t.Run("frames in a row", func(t *testing.T) {
		big := bytes.Repeat([]byte{9}, 3*smallFrame)
		in := append(append(frameOf([]byte("first")), frameOf(big)...), frameOf([]byte("3rd"))...)
		fr := newFrameReader(bufio.NewReader(iotest.HalfReader(bytes.NewReader(in))), 4*smallFrame)
		for i, want := range [][]byte{[]byte("first"), big, []byte("3rd")} {
			got, err := fr.next()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("frame %d: %d bytes, %v; want %d bytes", i, len(got), err, len(want))
			}
		}
		if _, err := fr.next(); !errors.Is(err, io.EOF) {
			t.Fatalf("after the last frame: %v, want EOF", err)
		}
	})
	t.Run("allocates as the bytes arrive", func(t *testing.T) {
		// 16 MiB declared, 100 KiB sent: the buffer holds about what came.
		const declared, sent = 16 << 20, 100 << 10
		in := append(lengthOnly(declared), make([]byte, sent)...)
		fr := newFrameReader(bufio.NewReader(bytes.NewReader(in)), declared)
		if _, err := fr.next(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("next: %v, want ErrUnexpectedEOF", err)
		}
		if c := cap(*fr.buf); c > 2*sent {
			t.Fatalf("buffer of %d bytes for %d received", c, sent)
		}
		fr.release()
	})
}

func TestBodyCodec(t *testing.T) {
	t.Run("Raw is sent as it is", func(t *testing.T) {
		raw := Raw{0x92, 0x01, 0xa1, 'x'}
		b, err := encodeBody([]byte{9}, raw)
		if err != nil || !bytes.Equal(b, append([]byte{9}, raw...)) {
			t.Fatalf("encodeBody: %x, %v", b, err)
		}
	})
	t.Run("*Raw receives a copy", func(t *testing.T) {
		body := []byte{0x92, 0x01, 0x02}
		var raw Raw
		if err := decodeBody(body, &raw); err != nil {
			t.Fatal(err)
		}
		body[1] = 0x7f
		if !bytes.Equal(raw, []byte{0x92, 0x01, 0x02}) {
			t.Fatalf("raw aliases the frame: %x", []byte(raw))
		}
	})
	t.Run("empty body into a value", func(t *testing.T) {
		var v int
		if err := decodeBody(nil, &v); !errors.Is(err, ErrMalformedFrame) {
			t.Fatalf("decodeBody: %v, want ErrMalformedFrame", err)
		}
	})
	t.Run("unencodable", func(t *testing.T) {
		dst := []byte{1, 2}
		b, err := encodeBody(dst, func() {})
		if err == nil || !bytes.Equal(b, dst) {
			t.Fatalf("encodeBody: %x, %v", b, err)
		}
	})
}

func TestErrorCode(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		name     string
		err      error
		code     string
		contains string
	}{
		{"plain", base, CodeInternal, "boom"},
		{"coded", NewError("c1", base), "c1", "boom"},
		{"wrapped coded", fmt.Errorf("ctx: %w", NewError("c2", base)), "c2", "ctx: boom"},
		{"empty code", NewError("", base), CodeInternal, "boom"},
		{"remote", &Error{Code: "c3", Message: "far"}, "c3", "far"},
		{"remote without code", &Error{Message: "far"}, CodeInternal, "far"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := errorCode(tt.err)
			if code != tt.code || !strings.Contains(msg, tt.contains) {
				t.Fatalf("errorCode = %q, %q; want %q, containing %q", code, msg, tt.code, tt.contains)
			}
		})
	}
	if NewError("x", nil) != nil {
		t.Fatal("NewError(code, nil) != nil")
	}
	if !errors.Is(NewError("x", base), base) {
		t.Fatal("NewError does not unwrap to its error")
	}
	if got := (&Error{Code: "c"}).Error(); got != "c" {
		t.Fatalf("Error() without a message = %q", got)
	}
}

func TestTruncateUTF8(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abc", 2, "ab"},
		{"abc", -1, ""},
		{"aé", 2, "a"},
		{"aé", 3, "aé"},
		{"☃☃", 4, "☃"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.s, tt.n), func(t *testing.T) {
			got := truncateUTF8(tt.s, tt.n)
			if got != tt.want || !utf8.ValidString(got) {
				t.Fatalf("truncateUTF8(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"defaults", *DefaultConfig(), true},
		{"min frame", Config{MaxFrameSize: 1024}, true},
		{"max frame", Config{MaxFrameSize: math.MaxUint32}, true},
		{"negative frame", Config{MaxFrameSize: -1}, false},
		{"small frame", Config{MaxFrameSize: 1023}, false},
		{"frame above the length prefix", Config{MaxFrameSize: math.MaxUint32 + 1}, false},
		{"negative buffer", Config{MaxBuffered: -1}, false},
		{"negative dial timeout", Config{DialTimeout: -time.Second}, false},
		{"negative write timeout", Config{WriteTimeout: -time.Second}, false},
		{"negative in-flight budget", Config{MaxInFlight: -1}, false},
		{"negative frame timeout", Config{FrameTimeout: -time.Second}, false},
		{"negative idle timeout", Config{IdleTimeout: -time.Second}, false},
		{"negative connection limit", Config{MaxConns: -1}, false},
		{"server TLS without a certificate", Config{ServerTLS: &tls.Config{}}, false},
		{"client TLS without roots", Config{ClientTLS: &tls.Config{}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate: %v, want ErrInvalidConfig", err)
			}
		})
	}
	d := DefaultConfig()
	if d.MaxFrameSize != DefaultMaxFrameSize || d.MaxBuffered <= 0 || d.DialTimeout <= 0 || d.WriteTimeout <= 0 || d.Logger == nil ||
		d.MaxInFlight != DefaultMaxInFlight || d.FrameTimeout != DefaultFrameTimeout || d.IdleTimeout != DefaultIdleTimeout || d.MaxConns != DefaultMaxConns {
		t.Fatalf("DefaultConfig() = %+v", d)
	}
}
