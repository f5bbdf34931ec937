package counter

import (
	"errors"
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/op"
)

// TestStoreMatchesModel runs random adds, returns, gets and takes (of every
// partition or some) against a map per partition: takes return exactly
// the sums, and a key taken reads 0 until written again.
func TestStoreMatchesModel(t *testing.T) {
	cases := []struct {
		name       string
		partitions int
		ops        int
	}{
		{"many keys in one partition", 1, 40_000},
		{"several partitions", 5, 40_000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, uint64(tc.partitions)))
			c := New(tc.partitions)
			model := make([]map[string]int64, tc.partitions)
			for p := range model {
				model[p] = map[string]int64{}
			}
			var ops int64
			var keys []string // a few held keys to read back
			for range tc.ops {
				p, key := r.IntN(tc.partitions), randomKey(r)
				switch x := r.IntN(10_000); {
				case x < 6_000:
					delta := r.Int64N(100)
					got, err := c.Add(p, key, delta, nil)
					if err != nil {
						t.Fatal(err)
					}
					model[p][key] += delta
					if got != model[p][key] {
						t.Fatalf("Add(%d, %q, %d) = %d, want the count held, %d", p, key, delta, got, model[p][key])
					}
					ops++
					keys = append(keys, key)
				case x < 8_000:
					if err := c.Return(p, key, -1); err != nil {
						t.Fatal(err)
					}
					model[p][key]--
					ops++
				case x < 9_995:
					if got := c.Get(p, key); got != model[p][key] {
						t.Fatalf("Get(%d, %q) = %d, want %d", p, key, got, model[p][key])
					}
				default:
					var only []int
					if r.IntN(2) == 0 {
						only = []int{r.IntN(tc.partitions)}
					}
					ops -= checkTake(t, c, model, only)
					for _, k := range keys {
						for p := range Partitions(tc.partitions, only) {
							if got := c.Get(p, k); got != 0 {
								t.Fatalf("Get(%d, %q) = %d after a take", p, k, got)
							}
						}
					}
					keys = keys[:0]
				}
			}
			held := 0
			for _, m := range model {
				held += len(m)
			}
			if k, o := c.Stats(); k != held || o != ops {
				t.Fatalf("Stats = %d keys, %d ops; want %d, %d", k, o, held, ops)
			}
			checkTake(t, c, model, nil)
			if c.Len() != 0 {
				t.Fatalf("%d keys left after taking all", c.Len())
			}
		})
	}
}

// checkTake takes only (or every partition) from c and fails unless it
// got exactly model's sums; it empties the partitions taken in model and
// returns the ops the take counted.
func checkTake(t *testing.T, c *Store, model []map[string]int64, only []int) int64 {
	t.Helper()
	got, _, ops := c.Take(false, only)
	gotBy := make([]map[string]int64, len(model))
	for p := range gotBy {
		gotBy[p] = map[string]int64{}
	}
	for _, g := range got {
		if _, dup := gotBy[g.Partition][g.Key]; dup {
			t.Fatalf("took %q of partition %d twice", g.Key, g.Partition)
		}
		gotBy[g.Partition][g.Key] = g.Count
	}
	taken := map[int]bool{}
	for p := range Partitions(len(model), only) {
		taken[p] = true
	}
	for p := range model {
		want := map[string]int64{}
		if taken[p] {
			want, model[p] = model[p], map[string]int64{}
		}
		if !maps.Equal(gotBy[p], want) {
			t.Fatalf("took %d keys of partition %d, want %d (or their sums differ)", len(gotBy[p]), p, len(want))
		}
	}
	return ops
}

// TestRefusedFirstOpLeavesPartitionEmpty: an op the log refuses on an
// empty partition leaves nothing for a take.
func TestRefusedFirstOpLeavesPartitionEmpty(t *testing.T) {
	c := New(1)
	refuse := op.LogFunc(func(uint64) error { return errs.ErrShutdown })
	if _, err := c.Add(0, "k", 1, refuse); !errors.Is(err, errs.ErrShutdown) {
		t.Fatalf("err = %v", err)
	}
	if got, ranges, ops := c.Take(false, nil); got != nil || ranges != nil || ops != 0 {
		t.Fatalf("Take = %v, %v, %d; want nothing", got, ranges, ops)
	}
}
