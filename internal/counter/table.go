package counter

import (
	"encoding/binary"
	"hash/maphash"
	"iter"
	"math/bits"
)

// table maps one partition's keys to their counts in two slices that hold
// no Go pointers, so the garbage collector never scans them:
//
//   - arena, append-only, holds a record per key: its count (8 bytes,
//     little-endian, updated in place), its length (uvarint: 1 byte below
//     128) and the key itself;
//   - slots is an open-addressing index over the arena, linear probing,
//     at most maxLoadNum/maxLoadDen full. It grows by half and by a third
//     in turn (8, 12, 16, 24, 32... slots), which keeps it fuller on
//     average than doubling would. A slot is 0 when empty, else a tag (23
//     low bits of the key's hash under a 1) above the offset of the key's
//     record (40 bits); the hash's high bits choose the slot a probe
//     starts from.
//
// A key of 12 bytes thus costs 21 bytes of arena (plus the spare capacity
// append leaves) and 10 to 15 bytes of slots, where a map[string]int64
// costs 55 to 70. Keys are never removed: a take swaps the whole table
// out. The zero table (with a seed) is empty and allocates nothing until
// the first insert; a table made by successor allocates at its first
// insert (or at reserve) the room its predecessor's keys took, so that a
// partition whose keys come back after a take does not grow its slots
// and arena again step by step (on a busy node that was most of what a
// flush made the garbage collector chase: 23 KB per partition of 200
// keys, against 6 KB presized). Not safe for concurrent use.
type table struct {
	seed  maphash.Seed // the Store's: hashes keys again when slots grow
	slots []uint64
	arena []byte
	n     int // keys held

	// hintKeys and hintBytes are the keys and arena bytes the first insert
	// makes room for.
	hintKeys, hintBytes int
}

// successor returns the empty table that replaces t at a take, sized for
// as many keys as t holds.
func (t *table) successor() table {
	return table{seed: t.seed, hintKeys: t.n, hintBytes: len(t.arena)}
}

// reserve allocates now the room the first insert would (the hints'), so
// that the goroutine taking the table pays for it, not a writer.
func (t *table) reserve() {
	if t.slots != nil || t.hintKeys == 0 {
		return
	}
	t.slots = make([]uint64, slotsFor(t.hintKeys))
	t.arena = make([]byte, 0, t.hintBytes)
}

const (
	offsetBits = 40
	// maxArena is the most bytes of records a table holds: 1 TiB.
	maxArena   = 1 << offsetBits
	offsetMask = maxArena - 1
	tagBit     = 1 << 63
	countBytes = 8
	minSlots   = 8
	maxLoadNum = 4
	maxLoadDen = 5
)

// tagOf returns the tag of a key of hash h, in its place in a slot: the
// low bits of h, which home leaves out.
func tagOf(h uint64) uint64 { return h<<offsetBits | tagBit }

// home returns the slot where the probe for a key of hash h starts: by
// the high bits of h, scaled to the number of slots.
func (t *table) home(h uint64) int {
	hi, _ := bits.Mul64(h, uint64(len(t.slots)))
	return int(hi)
}

// recordBytes is the size of key's record in the arena.
func recordBytes(key string) int {
	return countBytes + uvarintLen(uint64(len(key))) + len(key)
}

func uvarintLen(x uint64) int {
	n := 1
	for ; x >= 0x80; x >>= 7 {
		n++
	}
	return n
}

// find returns the slot of key, whose hash is h, and true; or else the
// empty slot where it would go (-1 while the table has no slots) and
// false.
func (t *table) find(h uint64, key string) (int, bool) {
	if len(t.slots) == 0 {
		return -1, false
	}
	tag := tagOf(h)
	for i := t.home(h); ; {
		s := t.slots[i]
		if s == 0 {
			return i, false
		}
		if s&^offsetMask == tag && string(t.key(int(s&offsetMask))) == key {
			return i, true
		}
		if i++; i == len(t.slots) {
			i = 0
		}
	}
}

// count returns the count of the key in slot i, as find returned it.
func (t *table) count(i int) int64 {
	return int64(binary.LittleEndian.Uint64(t.arena[t.slots[i]&offsetMask:]))
}

// set sets the count of the key in slot i, as find returned it.
func (t *table) set(i int, v int64) {
	binary.LittleEndian.PutUint64(t.arena[t.slots[i]&offsetMask:], uint64(v))
}

// fits says whether key can be inserted: whether its record would end
// within maxArena.
func (t *table) fits(key string) bool { return fitsAfter(uint64(len(t.arena)), key) }

// fitsAfter says whether key's record fits in an arena of used bytes.
func fitsAfter(used uint64, key string) bool {
	return used+uint64(recordBytes(key)) <= maxArena
}

// insert adds key, whose hash is h and which the table does not hold,
// with count v; i is the empty slot find returned. The caller checks that
// it fits first.
func (t *table) insert(i int, h uint64, key string, v int64) {
	if (t.n+1)*maxLoadDen > len(t.slots)*maxLoadNum {
		t.grow()
		i, _ = t.find(h, key)
	}
	if t.arena == nil && t.hintBytes > 0 {
		t.arena = make([]byte, 0, max(t.hintBytes, recordBytes(key)))
	}
	off := len(t.arena)
	t.arena = binary.LittleEndian.AppendUint64(t.arena, uint64(v))
	t.arena = binary.AppendUvarint(t.arena, uint64(len(key)))
	t.arena = append(t.arena, key...)
	t.slots[i] = tagOf(h) | uint64(off)
	t.n++
}

// grow enlarges slots by half or by a third (the first time, to hold
// hintKeys) and indexes the arena's records again, in order, hashing their
// keys afresh (a slot keeps only 23 bits of the hash). The arena stays.
func (t *table) grow() {
	n := nextSlots(len(t.slots))
	if len(t.slots) == 0 {
		n = slotsFor(t.hintKeys)
	}
	t.slots = make([]uint64, n)
	for off, next := 0, 0; off < len(t.arena); off = next {
		key := t.key(off)
		next = off + countBytes + uvarintLen(uint64(len(key))) + len(key)
		h := maphash.Bytes(t.seed, key) // as maphash.String of the same bytes
		i := t.home(h)
		for t.slots[i] != 0 {
			if i++; i == n {
				i = 0
			}
		}
		t.slots[i] = tagOf(h) | uint64(off)
	}
}

// slotsFor is the fewest slots, of those nextSlots steps through, that
// hold keys.
func slotsFor(keys int) int {
	n := minSlots
	for keys*maxLoadDen > n*maxLoadNum {
		n = nextSlots(n)
	}
	return n
}

// nextSlots is the number of slots after n: 8, 12, 16, 24, 32...
func nextSlots(n int) int {
	switch {
	case n == 0:
		return minSlots
	case n&(n-1) == 0:
		return n + n/2
	default:
		return n + n/3
	}
}

// key returns the key of the record at off, in the arena.
func (t *table) key(off int) []byte {
	rec := t.arena[off+countBytes:]
	if n := int(rec[0]); n < 0x80 {
		return rec[1 : 1+n]
	}
	n, w := binary.Uvarint(rec)
	return rec[w : w+int(n)]
}

// all yields every key, in the arena (valid until the next insert), with
// its count, in the order they were inserted.
func (t *table) all() iter.Seq2[[]byte, int64] {
	return func(yield func([]byte, int64) bool) {
		for r := range t.records() {
			if !yield(t.arena[r.key:r.end], r.count) {
				return
			}
		}
	}
}

// record is where a key's record lies in the arena: its key is
// arena[key:end].
type record struct {
	key, end int
	count    int64
}

// records yields every record, in the order they were inserted.
func (t *table) records() iter.Seq[record] {
	return func(yield func(record) bool) {
		for off := 0; off < len(t.arena); {
			key := t.key(off)
			end := off + countBytes + uvarintLen(uint64(len(key))) + len(key)
			if !yield(record{end - len(key), end, int64(binary.LittleEndian.Uint64(t.arena[off:]))}) {
				return
			}
			off = end
		}
	}
}
