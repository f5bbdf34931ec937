package transport

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

func TestCheckBody(t *testing.T) {
	valid := []struct {
		name string
		v    any
	}{
		{"nil", nil},
		{"bool", true},
		{"ints", []any{0, 1, -1, 127, 128, -33, 255, 256, 65536, -70000, int64(1) << 40, uint64(1) << 63}},
		{"floats", []any{float32(1.5), 2.5}},
		{"strings", []any{"", "x", strings.Repeat("s", 31), strings.Repeat("s", 32), strings.Repeat("s", 300), strings.Repeat("s", 70000)}},
		{"bytes", [][]byte{{}, {1}, bytes.Repeat([]byte{2}, 300), bytes.Repeat([]byte{3}, 70000)}},
		{"time", time.Unix(1e9, 5)},
		{"map", map[string]any{"a": 1, "b": []any{map[string]any{}}, "c": nil}},
		{"big map", func() map[int]int {
			m := map[int]int{}
			for i := range 70000 {
				m[i] = i
			}
			return m
		}()},
		{"struct", &echoMsg{ID: 1, Payload: "p", Data: []byte{1}}},
		{"hello", Hello{Protocol: 1, Cluster: "c"}},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			b, err := msgpack.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkBody(b); err != nil {
				t.Fatalf("checkBody(%.40x): %v", b, err)
			}
		})
	}
	for _, ext := range [][]byte{
		{0xd4, 1, 0}, {0xd5, 1, 0, 0}, {0xd6, 1, 0, 0, 0, 0}, {0xd7, 1, 0, 0, 0, 0, 0, 0, 0, 0},
		append([]byte{0xd8, 1}, make([]byte, 16)...), {0xc7, 2, 1, 0, 0}, {0xc8, 0, 1, 1, 0}, {0xc9, 0, 0, 0, 0, 1},
	} {
		if err := checkBody(ext); err != nil {
			t.Errorf("checkBody(%x): %v", ext, err)
		}
	}

	deep := func(n int) []byte { return append(bytes.Repeat([]byte{0x91}, n), 0x00) }
	invalid := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"never used", []byte{0xc1}},
		{"trailing", []byte{0x01, 0x02}},
		{"array32 of nothing", []byte{0xdd, 0x7f, 0xff, 0xff, 0xff}},
		{"array16 short", []byte{0xdc, 0x00, 0x03, 0x01, 0x02}},
		{"map missing a value", []byte{0x81, 0xa1, 'k'}},
		{"map32 of nothing", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}},
		{"nested array32", bytes.Repeat([]byte{0xdd, 0x00, 0x00, 0x00, 0x02}, 100)},
		{"str8 short", []byte{0xd9, 0x05, 'a'}},
		{"str32 length short", []byte{0xdb, 0x00}},
		{"bin32 huge", []byte{0xc6, 0xa5, 0xa5, 0xa5, 0xa5, 0x00}},
		{"ext8 short", []byte{0xc7, 0x02, 0x01, 0x00}},
		{"fixext16 short", []byte{0xd8, 0x01, 0x00}},
		{"uint64 short", []byte{0xcf, 0x00}},
		{"too deep", deep(maxBodyDepth + 1)},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkBody(tt.b); err == nil {
				t.Fatalf("checkBody(%.40x) accepted it", tt.b)
			}
			var v any
			if err := decodeBody(tt.b, &v); !errors.Is(err, ErrMalformedFrame) {
				t.Fatalf("decodeBody: %v, want ErrMalformedFrame", err)
			}
		})
	}
	if err := checkBody(deep(maxBodyDepth)); err != nil {
		t.Fatalf("nesting of %d refused: %v", maxBodyDepth, err)
	}
}

// TestHostileBody sends bodies whose declared lengths would make msgpack
// allocate gigabytes; the handler decoding into any gets an error, and the
// server neither dies nor allocates much.
func TestHostileBody(t *testing.T) {
	checkLeaks(t)
	s := startServer(t, nil, HandlerFunc(func(req *Request, r Reply) {
		var v any
		if err := req.Decode(&v); err != nil {
			r.Send(nil, NewError("bad_request", err))
			return
		}
		r.Send(v, nil)
	}))
	c := dial(t, s, nil)
	ctx := ctxTimeout(t)
	bodies := map[string]Raw{
		"array32":        {0xdd, 0x7f, 0xff, 0xff, 0xff},
		"map32":          {0xdf, 0x7f, 0xff, 0xff, 0xff},
		"nested arrays":  Raw(bytes.Repeat([]byte{0xdd, 0x00, 0xff, 0xff, 0xff}, 200)),
		"deep nesting":   Raw(append(bytes.Repeat([]byte{0x91}, 100_000), 0)),
		"string of 4GiB": {0xdb, 0xff, 0xff, 0xff, 0xff, 'x'},
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			err := c.Call(ctx, "decode", body, nil)
			var re *Error
			if !errors.As(err, &re) || re.Code != "bad_request" || !strings.Contains(re.Message, "malformed frame") {
				t.Fatalf("Call: %v, want a bad_request error", err)
			}
		})
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Fatalf("decoding hostile bodies allocated %d MiB", grew>>20)
	}
	var resp []any
	if err := c.Call(ctx, "decode", []any{1, "x", []any{true}}, &resp); err != nil || len(resp) != 3 {
		t.Fatalf("a sane body: %v, %v", err, resp)
	}
}
