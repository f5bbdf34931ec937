package counter

import (
	"fmt"
	"hash/maphash"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
)

// randomKey returns a non-empty key, mostly short, sometimes of a length
// at a boundary of the record's layout (1, 127, 128 bytes) or the longest
// a key may be (1 KiB); bytes of any value, NUL and 0x80 included.
func randomKey(r *rand.Rand) string {
	var n int
	switch r.IntN(10) {
	case 0:
		n = []int{1, 127, 128, 129, 1023, 1024}[r.IntN(6)]
	default:
		n = 1 + r.IntN(16)
	}
	b := make([]byte, n)
	for i := range b {
		// A small alphabet so that short keys repeat.
		b[i] = []byte{'a', 'b', 0, 0x80, 0xff}[r.IntN(5)]
	}
	return string(b)
}

// add applies delta to key in t as Store.add does.
func (t *table) add(key string, delta int64) {
	h := maphash.String(t.seed, key)
	if i, ok := t.find(h, key); ok {
		t.set(i, t.count(i)+delta)
	} else {
		t.insert(i, h, key, delta)
	}
}

// get returns key's count in t and whether t holds key.
func (t *table) get(key string) (int64, bool) {
	i, ok := t.find(maphash.String(t.seed, key), key)
	if !ok {
		return 0, false
	}
	return t.count(i), true
}

// checkTable fails unless t holds exactly model.
func checkTable(t *testing.T, tb *table, model map[string]int64) {
	t.Helper()
	if tb.n != len(model) {
		t.Fatalf("table holds %d keys, the model %d", tb.n, len(model))
	}
	all := map[string]int64{}
	for k, v := range tb.all() {
		if _, dup := all[string(k)]; dup {
			t.Fatalf("all yields %q twice", k)
		}
		all[string(k)] = v
	}
	if !maps.Equal(all, model) {
		t.Fatalf("all yields %d keys that differ from the model's %d", len(all), len(model))
	}
	for k, want := range model {
		if got, ok := tb.get(k); !ok || got != want {
			t.Fatalf("get(%q) = %d, %v; want %d", k, got, ok, want)
		}
	}
	if n := len(tb.slots); tb.n*maxLoadDen > n*maxLoadNum {
		t.Fatalf("%d keys in %d slots", tb.n, n)
	}
}

// TestTableMatchesModel adds random deltas to random keys, many of them
// repeated, and compares the table with a map after every few adds; the
// index grows through a dozen doublings on the way.
func TestTableMatchesModel(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 42))
			tb := &table{seed: maphash.MakeSeed()}
			model := map[string]int64{}
			for i := range 30_000 {
				key, delta := randomKey(r), r.Int64N(2001)-1000
				tb.add(key, delta)
				model[key] += delta
				absent := randomKey(r) + "\x01" // randomKey never yields 0x01
				if _, ok := tb.get(absent); ok {
					t.Fatalf("get(%q) found a key never added", absent)
				}
				if i%5_000 == 0 {
					checkTable(t, tb, model)
				}
			}
			checkTable(t, tb, model)
			if len(tb.slots) < 1<<13 {
				t.Fatalf("only %d slots: the index did not grow as the test means", len(tb.slots))
			}
		})
	}
}

// TestTableCollidingHashes gives every key one hash, so that all probe the
// same run of slots, wrapping around the end, and share one tag: only the
// keys tell them apart.
func TestTableCollidingHashes(t *testing.T) {
	tb := &table{seed: maphash.MakeSeed()}
	for len(tb.slots) < 64 {
		tb.grow()
	}
	const h = 62 << 58 // home in the last slot but one: the run wraps around
	if home := tb.home(h); home != 62 {
		t.Fatalf("home = %d, want 62", home)
	}
	keys := []string{"a", strings.Repeat("a", 1024), "b", "ab", "ba"}
	for i := range 51 - len(keys) { // as many as fit without growing
		keys = append(keys, fmt.Sprint("k", i))
	}
	for n, k := range keys {
		i, ok := tb.find(h, k)
		if ok {
			t.Fatalf("find(%q) found a key not yet added", k)
		}
		tb.insert(i, h, k, int64(n))
	}
	if len(tb.slots) != 64 {
		t.Fatalf("the index grew to %d slots", len(tb.slots))
	}
	for n, k := range keys {
		if i, ok := tb.find(h, k); !ok || tb.count(i) != int64(n) {
			t.Fatalf("find(%q) = %d, %v; want its count %d", k, i, ok, n)
		}
	}
	if _, ok := tb.find(h, "aa"); ok {
		t.Fatal("found a key never added")
	}
}

func TestTableKeyLengths(t *testing.T) {
	cases := []struct {
		name string
		key  string
	}{
		{"one byte", "x"},
		{"NUL", "\x00"},
		{"127 bytes, the longest with a 1-byte length", strings.Repeat("y", 127)},
		{"128 bytes, the shortest with a 2-byte length", strings.Repeat("z", 128)},
		{"1 KiB, the longest key", strings.Repeat("\x80", 1024)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tb := &table{seed: maphash.MakeSeed()}
			model := map[string]int64{"before": 1, tc.key: -7, "after": 2}
			for _, k := range []string{"before", tc.key, "after"} {
				tb.add(k, model[k])
			}
			if want := 8 + uvarintLen(uint64(len(tc.key))) + len(tc.key); recordBytes(tc.key) != want {
				t.Fatalf("recordBytes = %d, want %d", recordBytes(tc.key), want)
			}
			checkTable(t, tb, model)
		})
	}
}

// TestTableRefusesRecordsBeyondMaxArena checks the bound that keeps a
// record's offset within a slot's 40 bits.
func TestTableRefusesRecordsBeyondMaxArena(t *testing.T) {
	key := strings.Repeat("k", 1024)
	cases := []struct {
		name string
		used uint64
		want bool
	}{
		{"empty", 0, true},
		{"ends at the limit", maxArena - uint64(recordBytes(key)), true},
		{"a byte beyond", maxArena - uint64(recordBytes(key)) + 1, false},
		{"full", maxArena, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := fitsAfter(tc.used, key); got != tc.want {
				t.Fatalf("fitsAfter(%d) = %v, want %v", tc.used, got, tc.want)
			}
		})
	}
}

// A table's successor makes room at its first insert for the keys its
// predecessor held: the same keys again fit without growing the slots or
// the arena; more keys than that grow it as usual; and a successor of an
// empty table allocates nothing until its first insert.
func TestSuccessorIsSizedForItsPredecessor(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	tb := &table{seed: maphash.MakeSeed()}
	model := map[string]int64{}
	for range 500 {
		k := randomKey(r)
		tb.add(k, 1)
		model[k]++
	}
	next := tb.successor()
	if next.slots != nil || next.arena != nil || next.n != 0 {
		t.Fatalf("a successor holds %d keys, %d slots, %d arena bytes before its first insert", next.n, len(next.slots), cap(next.arena))
	}
	var slots, arena int
	for k, v := range model {
		next.add(k, v)
		if slots == 0 {
			slots, arena = len(next.slots), cap(next.arena)
		}
	}
	checkTable(t, &next, model)
	if len(next.slots) != slots || cap(next.arena) != arena {
		t.Fatalf("the predecessor's keys grew the successor from %d slots and %d arena bytes to %d and %d", slots, arena, len(next.slots), cap(next.arena))
	}
	if arena != len(tb.arena) || slots > len(tb.slots) {
		t.Fatalf("successor sized at %d slots and %d arena bytes; its predecessor took %d and %d", slots, arena, len(tb.slots), len(tb.arena))
	}
	for i := range 500 {
		k := fmt.Sprint("more-", i)
		next.add(k, 1)
		model[k]++
	}
	checkTable(t, &next, model)

	empty := (&table{seed: tb.seed}).successor()
	empty.add("k", 1)
	if len(empty.slots) != minSlots {
		t.Fatalf("the successor of an empty table starts with %d slots, want %d", len(empty.slots), minSlots)
	}
}

// A take of every partition makes the next table of each partition that
// held keys at once, sized for them, so that writers do not allocate
// just after a flush; a take of some partitions (a hand-off) and a final
// take leave empty tables that allocate nothing.
func TestTakeReservesNextTables(t *testing.T) {
	s := New(4)
	addKeys(t, s, "k", 300, 1) // partitions 0-3, 75 keys each
	s.Take(false, []int{1})
	if sh := &s.shards[1]; sh.t.slots != nil || sh.t.arena != nil {
		t.Fatalf("a hand-off's take left partition 1 a table of %d slots, %d arena bytes", len(sh.t.slots), cap(sh.t.arena))
	}
	s.Take(false, nil)
	for p, want := range []bool{true, false, true, true} {
		sh := &s.shards[p]
		if got := sh.t.slots != nil; got != want {
			t.Fatalf("after a flush of every partition, partition %d has slots: %v, want %v", p, got, want)
		}
		if want && (len(sh.t.slots) != slotsFor(75) || cap(sh.t.arena) < 75*recordBytes("k0")) {
			t.Fatalf("partition %d's next table: %d slots and %d arena bytes, want %d and at least %d", p, len(sh.t.slots), cap(sh.t.arena), slotsFor(75), 75*recordBytes("k0"))
		}
	}
	addKeys(t, s, "k", 300, 1)
	s.Take(true, nil)
	for p := range s.shards {
		if sh := &s.shards[p]; sh.t.slots != nil {
			t.Fatalf("a final take left partition %d a table of %d slots", p, len(sh.t.slots))
		}
	}
}
