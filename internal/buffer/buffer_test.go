package buffer

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/sinks"
)

func vals(s ...string) [][]byte {
	out := make([][]byte, len(s))
	for i, v := range s {
		out[i] = []byte(v)
	}
	return out
}

func kicked(b *Store) bool {
	select {
	case <-b.Kick():
		return true
	default:
		return false
	}
}

func TestKeysFlushOnTheirOwnClock(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name    string
		cfg     Config
		inserts map[string][]string
		at      time.Time
		all     bool
		want    []string // keys taken
		kick    bool
		apart   bool // b in partition 1 (a partition is taken whole)
	}{
		{name: "nothing due before the interval", cfg: Config{Interval: time.Hour}, inserts: map[string][]string{"a": {"1"}}, at: now, want: nil},
		{name: "due after the interval", cfg: Config{Interval: time.Millisecond}, inserts: map[string][]string{"a": {"1"}}, at: now.Add(time.Second), want: []string{"a"}},
		{name: "all takes what is not due", cfg: Config{Interval: time.Hour}, inserts: map[string][]string{"a": {"1"}, "b": {"2"}}, at: now, all: true, want: []string{"a", "b"}},
		{name: "max_size makes a key due at once", cfg: Config{Interval: time.Hour, MaxSize: 2}, inserts: map[string][]string{"a": {"1", "2"}, "b": {"3"}}, at: now, want: []string{"a"}, kick: true, apart: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Partitions = 2
			b := New(tc.cfg)
			for k, vs := range tc.inserts {
				p := 0
				if tc.apart && k == "b" {
					p = 1
				}
				for _, v := range vs {
					if _, err := b.Add(p, k, vals(v), nil); err != nil {
						t.Fatal(err)
					}
				}
			}
			if got := kicked(b); got != tc.kick {
				t.Fatalf("kicked = %v, want %v", got, tc.kick)
			}
			got, _, _, _ := b.Take(tc.at, tc.all, false, nil)
			var keys []string
			for _, v := range got {
				keys = append(keys, v.Key)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, tc.want) {
				t.Fatalf("took %v, want %v", keys, tc.want)
			}
		})
	}
}

func TestValuesKeepTheirOrderAndAccounting(t *testing.T) {
	b := New(Config{Partitions: 1, Interval: time.Hour})
	if held, err := b.Add(0, "k", vals("a", "b"), nil); held != 2 || err != nil {
		t.Fatalf("Add = %d, %v; want 2 values held", held, err)
	}
	if held, err := b.Add(0, "k", vals("c"), nil); held != 3 || err != nil {
		t.Fatalf("Add = %d, %v; want 3 values held", held, err)
	}
	if n := b.Size(0, "k"); n != 3 {
		t.Fatalf("Size = %d", n)
	}
	if d := b.Dump(0, "k"); fmt.Sprintf("%s", d) != "[a b c]" {
		t.Fatalf("Dump = %s", d)
	}
	wantBytes := int64(3 + 3*ValueOverhead)
	if b.Held() != wantBytes {
		t.Fatalf("Held = %d, want %d", b.Held(), wantBytes)
	}
	got, _, ops, bytes := b.Take(time.Now(), true, false, nil)
	if len(got) != 1 || fmt.Sprintf("%s", got[0].Values) != "[a b c]" || ops != 2 || bytes != wantBytes {
		t.Fatalf("Take = %v, %d ops, %d bytes", got, ops, bytes)
	}
	if b.Held() != wantBytes {
		t.Fatalf("bytes released before Release: %d", b.Held())
	}
	b.Release(bytes)
	if b.Held() != 0 || b.Size(0, "k") != 0 {
		t.Fatalf("after release: held %d, size %d", b.Held(), b.Size(0, "k"))
	}
}

func TestMaxBytesRefusesAndSignals(t *testing.T) {
	b := New(Config{Partitions: 1, Interval: time.Hour, MaxBytes: 200})
	if _, err := b.Add(0, "k", vals("0123456789012345678901234567890123456789012345678901234567890123456789"), nil); err != nil {
		t.Fatal(err)
	}
	if b.High() {
		t.Fatal("high at 94 of 200 bytes")
	}
	if _, err := b.Add(0, "k", vals("x"), nil); err != nil {
		t.Fatal(err)
	}
	if !b.High() || !kicked(b) {
		t.Fatal("over half of max_bytes: not high or not signalled")
	}
	held := b.Held()
	_, err := b.Add(0, "k", vals("0123456789012345678901234567890123456789012345678901234567890123456789"), nil)
	if !errors.Is(err, errs.ErrOverloaded) {
		t.Fatalf("err = %v, want ErrOverloaded", err)
	}
	if b.Held() != held || b.Size(0, "k") != 2 {
		t.Fatalf("a refused insert changed the state: held %d, size %d", b.Held(), b.Size(0, "k"))
	}
}

func TestFinalTakeClosesOnlyItsPartitions(t *testing.T) {
	b := New(Config{Partitions: 2, Interval: time.Hour})
	_, _ = b.Add(0, "a", vals("1"), nil)
	_, _, _, bytes := b.Take(time.Now(), true, true, []int{0})
	b.Release(bytes)
	if _, err := b.Add(0, "a", vals("2"), nil); !errors.Is(err, errs.ErrShutdown) {
		t.Fatalf("add to a closed partition: %v", err)
	}
	if b.Held() != 0 {
		t.Fatalf("a refused add left %d bytes counted", b.Held())
	}
	if _, err := b.Add(1, "b", vals("3"), nil); err != nil {
		t.Fatalf("add to an open partition: %v", err)
	}
	if keys, values := b.Stats(); keys != 1 || values != 1 {
		t.Fatalf("Stats = %d keys, %d values", keys, values)
	}
}

func TestTickIsBounded(t *testing.T) {
	cases := []struct {
		interval, want time.Duration
	}{
		{time.Millisecond, 5 * time.Millisecond},
		{800 * time.Millisecond, 100 * time.Millisecond},
		{time.Hour, time.Second},
	}
	for _, tc := range cases {
		if got := New(Config{Interval: tc.interval}).Tick(); got != tc.want {
			t.Errorf("Tick for %v = %v, want %v", tc.interval, got, tc.want)
		}
	}
}

// TestAPartitionLeavesWhole: when one key of a partition is due, the
// partition's other keys leave with it, so its ops leave in one
// contiguous range of sequence numbers; other partitions wait.
func TestAPartitionLeavesWhole(t *testing.T) {
	b := New(Config{Partitions: 2, Interval: time.Hour, MaxSize: 2})
	_, _ = b.Add(0, "x", vals("1"), nil)
	_, _ = b.Add(1, "y", vals("2"), nil)
	_, _ = b.Add(0, "due", vals("3", "4"), nil)
	got, ranges, ops, _ := b.Take(time.Now(), false, false, nil)
	var keys []string
	for _, v := range got {
		keys = append(keys, v.Key)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"due", "x"}) || ops != 2 || !slices.Equal(ranges, []sinks.Range{{Partition: 0, First: 1, Last: 2}}) {
		t.Fatalf("took %v (%d ops, ranges %v), want due and x from partition 0, range 1-2", keys, ops, ranges)
	}
	_, ranges, _, _ = b.Take(time.Now(), true, false, nil)
	if !slices.Equal(ranges, []sinks.Range{{Partition: 1, First: 1, Last: 1}}) {
		t.Fatalf("then took ranges %v", ranges)
	}
}
