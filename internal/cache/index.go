package cache

import "math/bits"

// index maps one shard's keys to their entries, in place of a Go map: a
// slice of slots, open addressing with linear probing, at most 3/4 full,
// deletion by shifting the probe chain back (no tombstones). A lookup
// reads one slot (its hash, key and entry) and then the entry, where the
// key it compares lives too (see newEntry): two cache misses for a key
// among many, where the Go map's header, directory, table and group of
// each of a store's partitions added theirs. GET -P 16 of 100,000 keys
// through the RESP front door: +5-8% against the map in alternating
// rounds (median 1.05x over six, 1.03-1.09x; 1.08x over twelve of a first
// version whose homes used only half the slots), which had lost 12% from
// 1,000 keys to 100,000 where redis-server lost 2%. A slot is 32
// bytes, 3/8 to 3/4 of them full: 43 to 85 bytes an entry, where the map
// took about 30 to 55.
//
// The zero index is empty and allocates nothing until the first put. Not
// safe for concurrent use: the shard's lock guards it.
type index struct {
	slots []slot
	n     int // entries held
}

// slot is one key's place: h is its hash with fullBit set, 0 when the
// slot is empty. fullBit is the lowest bit: home reads the high ones.
type slot struct {
	h   uint64
	key string
	e   *Entry
}

const (
	fullBit       = 1
	minIndexSlots = 8
)

// home returns the slot where the probe for hash h (fullBit set, as in
// slots) starts: by its high bits, scaled to the number of slots.
func (x *index) home(h uint64) int {
	hi, _ := bits.Mul64(h, uint64(len(x.slots)))
	return int(hi)
}

// find returns the slot of key, whose hash is h, and true; or else the
// empty slot where it would go (-1 while there are no slots) and false.
func (x *index) find(h uint64, key string) (int, bool) {
	if len(x.slots) == 0 {
		return -1, false
	}
	h |= fullBit
	for i := x.home(h); ; {
		s := &x.slots[i]
		if s.h == 0 {
			return i, false
		}
		if s.h == h && s.key == key {
			return i, true
		}
		if i++; i == len(x.slots) {
			i = 0
		}
	}
}

// lookup returns key's entry and whether it has one.
func (x *index) lookup(h uint64, key string) (*Entry, bool) {
	i, ok := x.find(h, key)
	if !ok {
		return nil, false
	}
	return x.slots[i].e, true
}

// put makes e key's entry and returns the entry it replaced, if any. The
// index keeps key: it must stay unchanged (it usually lives in e's own
// allocation).
func (x *index) put(h uint64, key string, e *Entry) (old *Entry, replaced bool) {
	i, ok := x.find(h, key)
	if ok {
		old = x.slots[i].e
		x.slots[i].key, x.slots[i].e = key, e
		return old, true
	}
	if (x.n+1)*4 > len(x.slots)*3 {
		x.grow()
		i, _ = x.find(h, key)
	}
	x.slots[i] = slot{h | fullBit, key, e}
	x.n++
	return nil, false
}

// grow doubles the slots and places every entry again.
func (x *index) grow() {
	old := x.slots
	n := max(2*len(old), minIndexSlots)
	x.slots = make([]slot, n)
	for _, s := range old {
		if s.h == 0 {
			continue
		}
		i := x.home(s.h)
		for x.slots[i].h != 0 {
			if i++; i == n {
				i = 0
			}
		}
		x.slots[i] = s
	}
}

// take removes key's entry and returns it, if it has one.
func (x *index) take(h uint64, key string) (*Entry, bool) {
	i, ok := x.find(h, key)
	if !ok {
		return nil, false
	}
	e := x.slots[i].e
	x.removeAt(i)
	return e, true
}

// removeAt empties slot i, which is full, and moves back the entries of
// the probe chain after it that may take its place, so that every probe
// still finds its key before an empty slot. Only slots after i, up to the
// next empty one, change.
func (x *index) removeAt(i int) {
	n := len(x.slots)
	for j := i; ; {
		if j++; j == n {
			j = 0
		}
		s := x.slots[j]
		if s.h == 0 {
			break
		}
		// s, at j, may move to i unless its home lies cyclically in (i, j]:
		// then its probe starts after i and would not find it there.
		if k := x.home(s.h); i < j && (k <= i || k > j) || j < i && k <= i && k > j {
			x.slots[i] = s
			i = j
		}
	}
	x.slots[i] = slot{}
	x.n--
}

// each calls f with every entry once, in slot order from an empty slot; f
// may report that the entry it got is to be removed. It walks from an
// empty slot because a removal moves back entries only from after the
// removed slot up to the next empty one: those not yet walked.
func (x *index) each(f func(key string, e *Entry) (remove bool)) {
	if x.n == 0 {
		return
	}
	n := len(x.slots)
	start := 0
	for x.slots[start].h != 0 {
		start++ // there is an empty slot: at most 3/4 are full
	}
	for step, i := 1, start+1; step < n; step++ {
		if i == n {
			i = 0
		}
		for x.slots[i].h != 0 && f(x.slots[i].key, x.slots[i].e) {
			x.removeAt(i) // slot i may now hold an entry not yet walked
		}
		i++
	}
}

// sample calls f with up to the entries held, from slot at on (at is
// taken modulo the number of slots), until f returns false.
func (x *index) sample(at int, f func(key string, e *Entry) bool) {
	n := len(x.slots)
	if x.n == 0 {
		return
	}
	for k, i := 0, at%n; k < n; k++ {
		if s := x.slots[i]; s.h != 0 && !f(s.key, s.e) {
			return
		}
		if i++; i == n {
			i = 0
		}
	}
}
