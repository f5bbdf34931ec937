package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/sinks"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRecordsRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		op   op.Op
	}{
		{"incr", op.Op{Kind: op.Incr, Store: "pageviews", Key: "/home", Delta: 42}},
		{"negative incr", op.Op{Kind: op.Incr, Store: "s", Key: "ünï", Delta: -1 << 62}},
		{"insert", op.Op{Kind: op.Insert, Store: "events", Key: "u1", Values: [][]byte{[]byte("a"), {}, []byte("\x00\xff")}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := AppendRecord(nil, &tc.op, 1020, 1<<40)
			r, err := DecodeRecord(b)
			if err != nil {
				t.Fatal(err)
			}
			if r.Kind != tc.op.Kind || r.Store != tc.op.Store || r.Key != tc.op.Key || r.Delta != tc.op.Delta ||
				r.Partition != 1020 || r.Seq != 1<<40 || !slices.EqualFunc(r.Values, tc.op.Values, func(a, b []byte) bool { return string(a) == string(b) }) {
				t.Fatalf("%+v came back as %+v", tc.op, r)
			}
			for cut := range len(b) {
				if _, err := DecodeRecord(b[:cut]); !errors.Is(err, errBadRecord) {
					t.Fatalf("a record cut at %d of %d bytes decoded: %v", cut, len(b), err)
				}
			}
		})
	}
}

func rec(p int, seq uint64, key string, delta int64) Recorded {
	return Recorded{Op: op.Op{Kind: op.Incr, Store: "s", Key: key, Delta: delta}, Partition: p, Seq: seq}
}

func ins(p int, seq uint64, key, v string) Recorded {
	return Recorded{Op: op.Op{Kind: op.Insert, Store: "s", Key: key, Values: [][]byte{[]byte(v)}}, Partition: p, Seq: seq}
}

func TestRebuildSkipsWhatWasApplied(t *testing.T) {
	ops := []Recorded{rec(1, 1, "a", 1), rec(1, 2, "a", 2), rec(1, 3, "b", 4), rec(2, 1, "c", 8), rec(1, 4, "a", 16), rec(2, 2, "c", 32)}
	cases := []struct {
		name       string
		applied    map[int][]sinks.Range
		wantRanges []sinks.Range
		wantCounts map[string]int64
		wantOps    int64
	}{
		{name: "nothing applied", wantRanges: []sinks.Range{{Partition: 1, First: 1, Last: 4}, {Partition: 2, First: 1, Last: 2}},
			wantCounts: map[string]int64{"a": 19, "b": 4, "c": 40}, wantOps: 6},
		{name: "a prefix applied", applied: map[int][]sinks.Range{1: {{Partition: 1, First: 1, Last: 2}}},
			wantRanges: []sinks.Range{{Partition: 1, First: 3, Last: 4}, {Partition: 2, First: 1, Last: 2}},
			wantCounts: map[string]int64{"a": 16, "b": 4, "c": 40}, wantOps: 4},
		{name: "a range in the middle applied (a dead letter replayed)", applied: map[int][]sinks.Range{1: {{Partition: 1, First: 2, Last: 3}}, 2: {{Partition: 2, First: 1, Last: 2}}},
			wantRanges: []sinks.Range{{Partition: 1, First: 1, Last: 1}, {Partition: 1, First: 4, Last: 4}},
			wantCounts: map[string]int64{"a": 17}, wantOps: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, n, ok, _ := Rebuild("n1.3", "s", slices.Clone(ops), tc.applied)
			if !ok || n != tc.wantOps || !slices.Equal(b.Ranges, tc.wantRanges) {
				t.Fatalf("Rebuild = %v ops, ranges %v, %v; want %d, %v", n, b.Ranges, ok, tc.wantOps, tc.wantRanges)
			}
			got := map[string]int64{}
			for _, c := range b.Counts {
				got[c.Key] += c.Count
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.wantCounts) || b.Kind != sinks.KindCounter || b.Origin != "n1.3" {
				t.Fatalf("counts %v (%s from %s), want %v", got, b.Kind, b.Origin, tc.wantCounts)
			}
			if b.ID != BatchID("n1.3", "s", tc.wantRanges) {
				t.Fatalf("batch ID %s is not the ranges'", b.ID)
			}
		})
	}
	all := map[int][]sinks.Range{1: {{Partition: 1, First: 1, Last: 4}}, 2: {{Partition: 2, First: 1, Last: 9}}}
	if _, _, ok, _ := Rebuild("n1.3", "s", slices.Clone(ops), all); ok {
		t.Fatal("a log whose every op was applied rebuilt a batch")
	}
}

func TestRebuildKeepsValueOrder(t *testing.T) {
	ops := []Recorded{ins(3, 2, "k", "b"), ins(3, 1, "k", "a"), ins(3, 3, "j", "x"), ins(3, 4, "k", "c")}
	b, n, ok, _ := Rebuild("n2.1", "s", ops, nil)
	if !ok || n != 4 || b.Kind != sinks.KindBuffer {
		t.Fatalf("Rebuild = %+v, %d, %v", b, n, ok)
	}
	for _, v := range b.Values {
		if v.Key == "k" && fmt.Sprintf("%s", v.Values) != "[a b c]" {
			t.Fatalf("values of k came back as %s", v.Values)
		}
	}
}

func TestBatchIDIsTheRanges(t *testing.T) {
	r1 := []sinks.Range{{Partition: 1, First: 1, Last: 5}}
	r2 := []sinks.Range{{Partition: 1, First: 1, Last: 6}}
	if BatchID("n1.1", "s", r1) != BatchID("n1.1", "s", slices.Clone(r1)) {
		t.Fatal("the same ranges made two IDs")
	}
	for _, other := range []string{BatchID("n1.1", "s", r2), BatchID("n1.2", "s", r1), BatchID("n1.1", "t", r1)} {
		if other == BatchID("n1.1", "s", r1) {
			t.Fatalf("other ops made the same ID %s", other)
		}
	}
}

func TestProgressAdvancesOnlyWhenContiguous(t *testing.T) {
	var p progress
	steps := []struct {
		first, last, through uint64
	}{
		{1, 10, 10},
		{21, 30, 10}, // settled ahead of 11-20 (a dead-letter write failed, say)
		{11, 20, 30},
		{5, 8, 30}, // old news
		{31, 31, 31},
	}
	for _, s := range steps {
		p.add(s.first, s.last)
		if p.through != s.through {
			t.Fatalf("after %d-%d: through %d, want %d", s.first, s.last, p.through, s.through)
		}
	}
}

func TestNextOriginGrowsAcrossStarts(t *testing.T) {
	dir := t.TempDir()
	seen := map[string]bool{}
	for i := 1; i <= 3; i++ {
		got, err := NextOrigin(dir, "n1")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(got, fmt.Sprintf("n1.%d.", i)) || incarnation(got) != uint64(i) || seen[got] {
			t.Fatalf("start %d: %q", i, got)
		}
		seen[got] = true
	}
	// A data directory restored from a backup counts from an old number:
	// the random part still tells the incarnations apart.
	if err := os.WriteFile(filepath.Join(dir, incarnationFile), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if again, err := NextOrigin(dir, "n1"); err != nil || seen[again] || incarnation(again) != 2 {
		t.Fatalf("after a restore: %q, %v", again, err)
	}
	if err := os.WriteFile(filepath.Join(dir, incarnationFile), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NextOrigin(dir, "n1"); err == nil {
		t.Fatal("a corrupt incarnation file was accepted")
	}
}
