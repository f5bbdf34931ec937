package counter

import (
	"errors"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/sinks"
)

func sorted(c []sinks.Count) []sinks.Count {
	slices.SortFunc(c, func(a, b sinks.Count) int {
		if a.Key < b.Key {
			return -1
		}
		if a.Key > b.Key {
			return 1
		}
		return 0
	})
	return c
}

func TestAddThenTake(t *testing.T) {
	type add struct {
		p     int
		key   string
		delta int64
	}
	cases := []struct {
		name    string
		adds    []add
		only    []int
		want    []sinks.Count
		wantOps int64
		left    int // keys still held after the take
	}{
		{name: "empty", want: nil},
		{name: "sums per key", adds: []add{{0, "a", 1}, {0, "a", 2}, {1, "b", -5}}, want: []sinks.Count{{Key: "a", Count: 3}, {Key: "b", Count: -5, Partition: 1}}, wantOps: 3},
		{name: "same key in two partitions stays apart", adds: []add{{0, "a", 1}, {2, "a", 1}}, want: []sinks.Count{{Key: "a", Count: 1}, {Key: "a", Count: 1, Partition: 2}}, wantOps: 2},
		{name: "only the listed partitions", adds: []add{{0, "a", 1}, {1, "b", 1}, {2, "c", 1}}, only: []int{1}, want: []sinks.Count{{Key: "b", Count: 1, Partition: 1}}, wantOps: 1, left: 2},
		{name: "zero delta still counts as an op", adds: []add{{0, "a", 0}}, want: []sinks.Count{{Key: "a", Count: 0}}, wantOps: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := New(4)
			for _, a := range tc.adds {
				if _, err := c.Add(a.p, a.key, a.delta, nil); err != nil {
					t.Fatal(err)
				}
			}
			got, _, ops := c.Take(false, tc.only)
			if !slices.Equal(sorted(got), sorted(tc.want)) || ops != tc.wantOps {
				t.Fatalf("Take = %v, %d ops; want %v, %d", got, ops, tc.want, tc.wantOps)
			}
			if keys := c.Len(); keys != tc.left {
				t.Fatalf("%d keys left, want %d", keys, tc.left)
			}
		})
	}
}

func TestOverflowAppliesNothing(t *testing.T) {
	cases := []struct {
		name  string
		start int64
		delta int64
	}{
		{"up", math.MaxInt64, 1},
		{"down", math.MinInt64, -1},
		{"big jump", math.MaxInt64 - 10, 11},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := New(1)
			if _, err := c.Add(0, "k", tc.start, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Add(0, "k", tc.delta, nil); !errors.Is(err, errs.ErrOverflow) {
				t.Fatalf("err = %v, want ErrOverflow", err)
			}
			if got := c.Get(0, "k"); got != tc.start {
				t.Fatalf("count %d after a refused add, want %d", got, tc.start)
			}
			if _, ops := c.Stats(); ops != 1 {
				t.Fatalf("%d ops counted, want 1", ops)
			}
		})
	}
}

func TestFinalTakeRefusesLaterWritesButTakesReturns(t *testing.T) {
	c := New(2)
	_, _ = c.Add(0, "a", 1, nil)
	if got, _, _ := c.Take(true, nil); len(got) != 1 {
		t.Fatalf("final take = %v", got)
	}
	if _, err := c.Add(0, "a", 1, nil); !errors.Is(err, errs.ErrShutdown) {
		t.Fatalf("add after the final take: %v, want ErrShutdown", err)
	}
	if err := c.Return(1, "b", 7); err != nil {
		t.Fatalf("return into a closed shard: %v", err)
	}
	if got, _, ops := c.Take(true, nil); len(got) != 1 || got[0].Count != 7 || ops != 1 {
		t.Fatalf("take after a return = %v, %d", got, ops)
	}
}

func TestConcurrentAddsAreAllCounted(t *testing.T) {
	c := New(8)
	var wg sync.WaitGroup
	var taken int64
	var mu sync.Mutex
	for w := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				if _, err := c.Add(i%8, "k", 1, nil); err != nil {
					t.Error(err)
				}
				if w == 0 && i%100 == 0 {
					got, _, _ := c.Take(false, nil)
					mu.Lock()
					for _, g := range got {
						taken += g.Count
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	got, _, _ := c.Take(false, nil)
	for _, g := range got {
		taken += g.Count
	}
	if taken != 8000 {
		t.Fatalf("took %d increments in all, want 8000", taken)
	}
}

func TestAddInt64(t *testing.T) {
	cases := []struct {
		a, b, sum int64
		ok        bool
	}{
		{1, 2, 3, true},
		{math.MaxInt64, 0, math.MaxInt64, true},
		{math.MaxInt64, 1, 0, false},
		{math.MinInt64, -1, 0, false},
		{math.MinInt64, math.MaxInt64, -1, true},
	}
	for _, tc := range cases {
		if sum, ok := AddInt64(tc.a, tc.b); sum != tc.sum || ok != tc.ok {
			t.Errorf("AddInt64(%d, %d) = %d, %v", tc.a, tc.b, sum, ok)
		}
	}
}

// TestTakesCoverContiguousRanges: every op gets the next sequence number of
// its partition, and each take holds, per partition, the range since the
// previous take; a refused op consumes no number, and the log hook sees
// each number before the op applies.
func TestTakesCoverContiguousRanges(t *testing.T) {
	c := New(2)
	var logged []uint64
	log := op.LogFunc(func(seq uint64) error { logged = append(logged, seq); return nil })
	for range 3 {
		if _, err := c.Add(0, "a", 1, log); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = c.Add(1, "b", 1, nil)
	if _, ranges, _ := c.Take(false, nil); !slices.Equal(ranges, []sinks.Range{{Partition: 0, First: 1, Last: 3}, {Partition: 1, First: 1, Last: 1}}) {
		t.Fatalf("first take: %v", ranges)
	}
	if _, err := c.Add(0, "a", math.MaxInt64, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Add(0, "a", 1, log); !errors.Is(err, errs.ErrOverflow) {
		t.Fatalf("overflow: %v", err)
	}
	failing := op.LogFunc(func(uint64) error { return errors.New("disk full") })
	if _, err := c.Add(0, "a", -1, failing); err == nil || c.Get(0, "a") != math.MaxInt64 {
		t.Fatalf("an op the log refused was applied: %v", err)
	}
	_, _ = c.Add(0, "a", -1, log)
	if _, ranges, _ := c.Take(false, nil); !slices.Equal(ranges, []sinks.Range{{Partition: 0, First: 4, Last: 5}}) {
		t.Fatalf("second take: %v", ranges)
	}
	if !slices.Equal(logged, []uint64{1, 2, 3, 5}) {
		t.Fatalf("the log saw %v", logged)
	}
}

func TestAddReturnsTheCountHeld(t *testing.T) {
	c := New(2)
	for i, tc := range []struct {
		delta, want int64
	}{{5, 5}, {-7, -2}, {2, 0}, {10, 10}} {
		got, err := c.Add(1, "k", tc.delta, nil)
		if err != nil || got != tc.want {
			t.Fatalf("add %d: Add(%d) = %d, %v; want %d", i, tc.delta, got, err, tc.want)
		}
	}
	c.Take(false, nil)
	if got, _ := c.Add(1, "k", 3, nil); got != 3 {
		t.Fatalf("after a take, Add(3) = %d; want 3 (the count since the flush)", got)
	}
}
