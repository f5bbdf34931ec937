package sinks

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// The hand-written counter line is byte for byte what encoding/json writes
// for the same line, whatever the strings hold: quotes, backslashes,
// control characters, invalid UTF-8, U+2028 and U+2029, HTML characters.
func TestCountLineIsWhatEncodingJSONWrites(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "/home", `"`, `\`, "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f", "<>&",
		"é", "日本", "🎉", "\u2028", "\u2029", "\xff", "\xe2\x80", "\xc3", " ", "'"}
	randString := func() string {
		var b []byte
		for range r.IntN(8) {
			b = append(b, pieces[r.IntN(len(pieces))]...)
		}
		return string(b)
	}
	for i := range 20_000 {
		b := Batch{Store: randString(), Kind: KindCounter, Node: randString(), ID: randString(),
			Time: time.Unix(int64(r.Uint32()), int64(r.IntN(1e9)))}
		c := Count{Key: randString(), Count: r.Int64() - math.MaxInt64/2}
		if i%7 == 0 {
			c.Count = 0
		}
		ts := b.Time.UTC().Format(time.RFC3339Nano)
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(&line{Store: b.Store, Kind: b.Kind, Key: c.Key, Count: &c.Count, Node: b.Node, Batch: b.ID, Time: ts}); err != nil {
			t.Fatal(err)
		}
		head, tail := countLineParts(&b, ts)
		if got := appendCountLine(nil, head, tail, &c); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("line %d:\n got %q\nwant %q", i, got, want.Bytes())
		}
	}
}
