package cache

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// checkIndex fails unless x holds exactly want, each key findable, with
// each walks every entry once.
func checkIndex(t *testing.T, x *index, want map[string]*Entry, hash func(string) uint64) {
	t.Helper()
	if x.n != len(want) {
		t.Fatalf("index holds %d entries, want %d", x.n, len(want))
	}
	for k, e := range want {
		if got, ok := x.lookup(hash(k), k); !ok || got != e {
			t.Fatalf("lookup(%q) = %p, %v; want %p", k, got, ok, e)
		}
	}
	seen := map[string]bool{}
	x.each(func(k string, e *Entry) bool {
		if seen[k] {
			t.Fatalf("each gave %q twice", k)
		}
		seen[k] = true
		if want[k] != e {
			t.Fatalf("each gave %q with %p, want %p", k, e, want[k])
		}
		return false
	})
	if len(seen) != len(want) {
		t.Fatalf("each gave %d entries, want %d", len(seen), len(want))
	}
}

// TestIndexAgainstMap runs random puts, deletes and removals during each
// on an index and a Go map side by side. A hash of few bits makes long
// probe chains that wrap around the end of the slots, which is where
// removing by shifting back goes wrong when it does.
func TestIndexAgainstMap(t *testing.T) {
	for _, bitsOfHash := range []uint{2, 6, 64} {
		t.Run(fmt.Sprintf("hash_bits=%d", bitsOfHash), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(bitsOfHash)))
			hash := func(k string) uint64 {
				h := uint64(0xcbf29ce484222325)
				for i := 0; i < len(k); i++ {
					h = (h ^ uint64(k[i])) * 0x100000001b3
				}
				if bitsOfHash < 64 {
					h <<= 64 - bitsOfHash // home takes the high bits
				}
				return h
			}
			var x index
			want := map[string]*Entry{}
			for step := range 20000 {
				k := fmt.Sprint(rng.IntN(300))
				switch r := rng.IntN(10); {
				case r < 6:
					e := &Entry{}
					old, replaced := x.put(hash(k), k, e)
					if w, held := want[k]; replaced != held || old != w {
						t.Fatalf("put(%q) replaced %p, %v; want %p, %v", k, old, replaced, w, held)
					}
					want[k] = e
				case r < 9:
					e, ok := x.take(hash(k), k)
					if w, held := want[k]; ok != held || e != w {
						t.Fatalf("take(%q) = %p, %v; want %p, %v", k, e, ok, w, held)
					}
					delete(want, k)
				default: // remove about a third during a walk, which still sees each entry once
					before, walked := len(want), map[string]bool{}
					x.each(func(k string, e *Entry) bool {
						if walked[k] || want[k] != e {
							t.Fatalf("the walk gave %q twice, or with the wrong entry", k)
						}
						walked[k] = true
						if rng.IntN(3) == 0 {
							delete(want, k)
							return true
						}
						return false
					})
					if len(walked) != before {
						t.Fatalf("the walk gave %d entries of %d", len(walked), before)
					}
				}
				if step%97 == 0 {
					checkIndex(t, &x, want, hash)
				}
			}
			checkIndex(t, &x, want, hash)
		})
	}
}

func TestIndexSample(t *testing.T) {
	var x index
	x.sample(0, func(string, *Entry) bool { t.Fatal("sample of an empty index gave an entry"); return false })
	for i := range 100 {
		k := fmt.Sprint(i)
		x.put(uint64(i)*0x9e3779b97f4a7c15, k, &Entry{})
	}
	for _, at := range []int{0, 7, len(x.slots) - 1, 1 << 40} {
		n := 0
		x.sample(at, func(string, *Entry) bool { n++; return n < 5 })
		if n != 5 {
			t.Fatalf("sample from %d gave %d entries, want 5 (it stops when told)", at, n)
		}
		all := map[string]bool{}
		x.sample(at, func(k string, _ *Entry) bool { all[k] = true; return true })
		if len(all) != 100 {
			t.Fatalf("sample from %d walked %d entries, want all 100", at, len(all))
		}
	}
}

// TestIndexProbesStayShort checks that keys spread over all the slots: a
// probe starts where the key's hash says, and most keys sit there or just
// after. (Homes taken from bits that the full mark had set would pile the
// keys into half the slots, in one long cluster: an average displacement
// of about 15 at 3/4 full, where a spread hash gives 1 to 2.)
func TestIndexProbesStayShort(t *testing.T) {
	var x index
	h := uint64(0)
	for i := range 10000 {
		h += 0x9e3779b97f4a7c15 // splitmix64: a well-spread, repeatable hash
		z := (h ^ h>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		x.put(z^z>>31, fmt.Sprint(i), &Entry{})
	}
	n, total := len(x.slots), 0
	for i, s := range x.slots {
		if s.h != 0 {
			total += (i - x.home(s.h) + n) % n
		}
	}
	if avg := float64(total) / float64(x.n); avg > 3 {
		t.Fatalf("average displacement %.1f slots over %d keys in %d slots, want at most 3", avg, x.n, n)
	}
}
