package proto

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

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
		// Every op with a TTL: a generic encoder writes every field (see
		// TestForwardWithoutTTLReadsAsEarlierVersions for ops without).
		{"forward", &ForwardRequest{Ops: []Op{{Kind: OpIncr, Store: "s", Key: "k", Delta: 1 << 40, TTL: 1}, {Kind: OpCount, Store: "t", Key: "", Delta: -1, TTL: -time.Second}}}, func() bodyCodec { return &ForwardRequest{} }},
		{"forward values", &ForwardRequest{Ops: []Op{{Kind: OpInsert, Store: "s", Key: "k", Values: [][]byte{[]byte("a"), {}, []byte(strings.Repeat("v", 70000)), {0xff}}, TTL: math.MaxInt64}}}, func() bodyCodec { return &ForwardRequest{} }},
		{"forward set with a ttl", &ForwardRequest{Ops: []Op{{Kind: OpSet, Store: "s", Key: "k", Values: [][]byte{[]byte("v")}, TTL: 90 * time.Second}, {Kind: OpAdopt, Store: "s", Key: "k", Delta: 1 << 60, Values: [][]byte{{}}, TTL: math.MinInt64}}}, func() bodyCodec { return &ForwardRequest{} }},
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

// opV1 and forwardRequestV1 are a forwarded op as nodes of earlier
// versions decode it: five fields, no TTL.
type opV1 struct {
	//lint:ignore U1000 read by msgpack through reflection: encode as an array
	_msgpack struct{} `msgpack:",as_array"`
	Kind     uint8
	Store    string
	Key      string
	Delta    int64
	Values   [][]byte
}

type forwardRequestV1 struct {
	//lint:ignore U1000 read by msgpack through reflection: encode as an array
	_msgpack struct{} `msgpack:",as_array"`
	Ops      []opV1
}

// TestForwardWithoutTTLReadsAsEarlierVersions: ops without a TTL are
// written as earlier versions wrote them, so nodes running those read
// them, and we read theirs; an op with a TTL is refused by them, not read
// without its expiry.
func TestForwardWithoutTTLReadsAsEarlierVersions(t *testing.T) {
	in := &ForwardRequest{Ops: []Op{
		{Kind: OpIncr, Store: "s", Key: "k", Delta: 1 << 40},
		{Kind: OpSet, Store: "t", Key: "", Delta: -1, Values: [][]byte{[]byte("v")}},
		{Kind: OpInsert, Store: "s", Key: "k", Values: [][]byte{[]byte("a"), {}, []byte(strings.Repeat("v", 70000))}},
	}}
	v1 := &forwardRequestV1{}
	for _, o := range in.Ops {
		v1.Ops = append(v1.Ops, opV1{Kind: o.Kind, Store: o.Store, Key: o.Key, Delta: o.Delta, Values: o.Values})
	}
	var viaLib forwardRequestV1
	if err := msgpack.Unmarshal(in.AppendBody(nil), &viaLib); err != nil || !reflect.DeepEqual(&viaLib, v1) {
		t.Fatalf("an earlier version reads ours as %+v, %v", viaLib, err)
	}
	theirs, err := msgpack.Marshal(v1)
	if err != nil {
		t.Fatal(err)
	}
	var got ForwardRequest
	if err := got.DecodeBody(theirs); err != nil || !reflect.DeepEqual(&got, in) {
		t.Fatalf("we read an earlier version's as %+v, %v", got, err)
	}

	withTTL := &ForwardRequest{Ops: []Op{in.Ops[0], {Kind: OpSet, Store: "s", Key: "k", Values: [][]byte{[]byte("v")}, TTL: time.Second}}}
	if err := msgpack.Unmarshal(withTTL.AppendBody(nil), &viaLib); err == nil {
		t.Fatalf("an earlier version reads an op with a TTL as %+v", viaLib)
	}
	got = ForwardRequest{}
	if err := got.DecodeBody(withTTL.AppendBody(nil)); err != nil || !reflect.DeepEqual(&got, withTTL) {
		t.Fatalf("ops with and without a TTL in one request came back as %+v, %v", got, err)
	}
}

func TestCodecRejectsBadInput(t *testing.T) {
	for _, good := range [][]byte{
		(&ForwardRequest{Ops: []Op{{Kind: 1, Store: "s", Key: "k", Delta: 5}}}).AppendBody(nil),
		(&ForwardRequest{Ops: []Op{{Kind: 8, Store: "s", Key: "k", Values: [][]byte{[]byte("v")}, TTL: 1 << 40}}}).AppendBody(nil),
	} {
		for i := range good {
			var m ForwardRequest
			if err := m.DecodeBody(good[:i]); err == nil {
				t.Fatalf("%x truncated at %d bytes: no error", good, i)
			}
		}
		var m ForwardRequest
		if err := m.DecodeBody(append(good, 0)); err == nil {
			t.Fatalf("%x with a trailing byte: no error", good)
		}
	}
	var m ForwardRequest
	// An op of four or seven fields.
	for _, b := range [][]byte{
		{0x91, 0x91, 0x94, 0x01, 0xa1, 's', 0xa1, 'k', 0x05},
		{0x91, 0x91, 0x97, 0x01, 0xa1, 's', 0xa1, 'k', 0x05, 0xc0, 0x01, 0x01},
	} {
		if err := m.DecodeBody(b); err == nil {
			t.Fatalf("%x: no error", b)
		}
	}
	// A TTL that is not an integer.
	if err := m.DecodeBody([]byte{0x91, 0x91, 0x96, 0x08, 0xa1, 's', 0xa1, 'k', 0x00, 0xc0, 0xa1, 'x'}); err == nil {
		t.Fatal("a string TTL: no error")
	}
	// An array claiming 2^32-1 elements in a few bytes must not allocate them.
	if err := m.DecodeBody([]byte{0x91, 0xdd, 0xff, 0xff, 0xff, 0xff}); err == nil {
		t.Fatal("huge array: no error")
	}
}

func FuzzDecodeBodies(f *testing.F) {
	f.Add((&ForwardRequest{Ops: []Op{{Kind: 1, Store: "s", Key: "k", Delta: 5}}}).AppendBody(nil))
	f.Add((&ForwardRequest{Ops: []Op{{Kind: 8, Store: "s", Key: "k", Values: [][]byte{[]byte("v")}, TTL: time.Minute}, {Kind: 9, Store: "s", Key: "k"}}}).AppendBody(nil))
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

// TestAdoptOfADeleteRoundTrips: an adopt with no value (a cache delete
// handed over) reads back as one, with its time.
func TestAdoptOfADeleteRoundTrips(t *testing.T) {
	in := &ForwardRequest{Ops: []Op{{Kind: OpAdopt, Store: "s", Key: "k", Delta: 1 << 60}}}
	var got ForwardRequest
	if err := got.DecodeBody(in.AppendBody(nil)); err != nil {
		t.Fatal(err)
	}
	if len(got.Ops) != 1 || got.Ops[0].Kind != OpAdopt || got.Ops[0].Key != "k" || got.Ops[0].Delta != 1<<60 || len(got.Ops[0].Values) != 0 {
		t.Fatalf("read back as %+v", got.Ops)
	}
}
