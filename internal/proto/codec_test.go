package proto

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

type bodyCodec interface {
	AppendBody([]byte) []byte
	DecodeBody([]byte) error
}

// TestCodecsMatchMsgpack checks each hand-written codec against the generic
// msgpack library both ways: what we write it reads, what it writes we read.
func TestCodecsMatchMsgpack(t *testing.T) {
	long := strings.Repeat("ü", 40000)
	for _, tc := range []struct {
		name string
		in   bodyCodec
		out  func() bodyCodec
	}{
		{"incr", &IncrRequest{Store: "pageviews", Key: "/home", Delta: 1}, func() bodyCodec { return &IncrRequest{} }},
		{"incr extremes", &IncrRequest{Store: "", Key: long, Delta: math.MinInt64}, func() bodyCodec { return &IncrRequest{} }},
		{"incr max", &IncrRequest{Store: "s", Key: "k", Delta: math.MaxInt64}, func() bodyCodec { return &IncrRequest{} }},
		{"incr negative", &IncrRequest{Store: "s", Key: "k", Delta: -33}, func() bodyCodec { return &IncrRequest{} }},
		{"key", &KeyRequest{Store: "a", Key: strings.Repeat("k", 300)}, func() bodyCodec { return &KeyRequest{} }},
		{"forward", &ForwardRequest{Ops: []Op{{Kind: OpIncr, Store: "s", Key: "k", Delta: 1 << 40}, {Kind: OpCount, Store: "t", Key: "", Delta: -1}}}, func() bodyCodec { return &ForwardRequest{} }},
		{"forward values", &ForwardRequest{Ops: []Op{{Kind: OpInsert, Store: "s", Key: "k", Values: [][]byte{[]byte("a"), {}, []byte(strings.Repeat("v", 70000)), {0xff}}}}}, func() bodyCodec { return &ForwardRequest{} }},
		{"insert", &InsertRequest{Store: "events", Key: "u1", Values: [][]byte{[]byte("x"), []byte(strings.Repeat("y", 300))}}, func() bodyCodec { return &InsertRequest{} }},
		{"insert no values", &InsertRequest{Store: "events", Key: "u1"}, func() bodyCodec { return &InsertRequest{} }},
		{"forward empty", &ForwardRequest{Ops: []Op{}}, func() bodyCodec { return &ForwardRequest{} }},
		{"forward response", &ForwardResponse{Results: []OpResult{{}, {Code: CodeNotOwner, Message: "no", Count: 7}, {Values: [][]byte{[]byte("d")}}}}, func() bodyCodec { return &ForwardResponse{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ours := tc.in.AppendBody(nil)
			got := tc.out()
			if err := got.DecodeBody(ours); err != nil {
				t.Fatalf("decode our own: %v", err)
			}
			if !reflect.DeepEqual(got, tc.in) {
				t.Fatalf("round trip: got %+v, want %+v", got, tc.in)
			}
			viaLib := tc.out()
			if err := msgpack.Unmarshal(ours, viaLib); err != nil || !reflect.DeepEqual(viaLib, tc.in) {
				t.Fatalf("msgpack reads ours as %+v, %v", viaLib, err)
			}
			theirs, err := msgpack.Marshal(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			fromLib := tc.out()
			if err := fromLib.DecodeBody(theirs); err != nil || !reflect.DeepEqual(fromLib, tc.in) {
				t.Fatalf("we read msgpack's as %+v, %v", fromLib, err)
			}
		})
	}
}

func TestCodecRejectsBadInput(t *testing.T) {
	good := (&ForwardRequest{Ops: []Op{{Kind: 1, Store: "s", Key: "k", Delta: 5}}}).AppendBody(nil)
	for i := range good {
		var m ForwardRequest
		if err := m.DecodeBody(good[:i]); err == nil {
			t.Fatalf("truncated at %d bytes: no error", i)
		}
	}
	var m ForwardRequest
	if err := m.DecodeBody(append(good, 0)); err == nil {
		t.Fatal("trailing byte: no error")
	}
	// An array claiming 2^32-1 elements in a few bytes must not allocate them.
	if err := m.DecodeBody([]byte{0x91, 0xdd, 0xff, 0xff, 0xff, 0xff}); err == nil {
		t.Fatal("huge array: no error")
	}
}

func FuzzDecodeBodies(f *testing.F) {
	f.Add((&ForwardRequest{Ops: []Op{{Kind: 1, Store: "s", Key: "k", Delta: 5}}}).AppendBody(nil))
	f.Add(IncrRequest{Store: "s", Key: "k", Delta: -1}.AppendBody(nil))
	f.Add(InsertRequest{Store: "s", Key: "k", Values: [][]byte{[]byte("v")}}.AppendBody(nil))
	f.Add((&ForwardResponse{Results: []OpResult{{Code: "x"}}}).AppendBody(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		var a ForwardRequest
		if a.DecodeBody(b) == nil {
			var again ForwardRequest
			if err := again.DecodeBody(a.AppendBody(nil)); err != nil || !reflect.DeepEqual(a, again) {
				t.Fatalf("re-encoding changed %+v: %+v, %v", a, again, err)
			}
		}
		var i IncrRequest
		_ = i.DecodeBody(b)
		var ins InsertRequest
		_ = ins.DecodeBody(b)
		var k KeyRequest
		_ = k.DecodeBody(b)
		var r ForwardResponse
		_ = r.DecodeBody(b)
	})
}
