package counter

import (
	"fmt"
	"hash/maphash"
	"iter"
	"math"
	"sync"
	"unsafe"

	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/internal/yield"
	"github.com/hoard-dev/hoard/sinks"
)

// Store holds the unflushed deltas of one counter store, sharded by
// partition. Safe for concurrent use.
//
// Each partition keeps its keys in a table of its own, which holds no Go
// pointers (see table): a key costs its length plus 25 to 30 bytes of heap.
// The table lives in its shard, not behind a pointer: an op then misses the
// cache on the table's slots and arena only (an empty partition costs its
// shard's hundred bytes).
type Store struct {
	seed   maphash.Seed // hashes keys, random per Store against key flooding
	shards []shard

	// spareMu guards spare: a batch's Counts given back (Recycle), cleared,
	// which the next Take fills instead of allocating.
	spareMu sync.Mutex
	spare   []sinks.Count

	// maps, when not nil, makes batches' Counts outside the Go heap
	// (MapBatches, batchmem.go).
	maps *mappings
}

type shard struct {
	// mu guards t, ops, seq, taken and closed.
	mu     sync.Mutex
	t      table  // empty (no slots) after a take
	ops    int64  // increments applied since the last take
	seq    uint64 // the last op's sequence number in this partition
	taken  uint64 // the last sequence number a take took
	closed bool   // set by a final take: later writes fail
}

// Log is called with an op's sequence number under its partition's lock,
// before the op is applied, so that what it writes (a write-ahead log
// record) is in sequence order per partition. An error refuses the op.
// (op.Log: the op's write, which op.Host.Write passes on.)
type Log = op.Log

// New returns an empty store of partitions shards.
func New(partitions int) *Store {
	c := &Store{seed: maphash.MakeSeed(), shards: make([]shard, partitions)}
	for i := range c.shards {
		c.shards[i].t.seed = c.seed
	}
	return c
}

// Add applies delta to key in partition p, as the partition's next op in
// sequence; log, when not nil, is called with its sequence number first.
// It returns the key's unflushed count then. The store keeps a copy of
// key. Errors: errs.ErrOverflow (nothing applied), errs.ErrShutdown once a
// final take closed the shard, errs.ErrOverloaded when the partition holds
// 1 TiB of keys since the last take (nothing applied), or log's error
// (nothing applied).
func (c *Store) Add(p int, key string, delta int64, log Log) (int64, error) {
	return c.add(p, key, delta, log, false)
}

// Return puts back a delta taken out earlier and not delivered, even into a
// closed shard: whoever closed it takes it again after. Errors:
// errs.ErrOverflow, errs.ErrOverloaded (as Add).
func (c *Store) Return(p int, key string, delta int64) error {
	_, err := c.add(p, key, delta, nil, true)
	return err
}

func (c *Store) add(p int, key string, delta int64, log Log, evenClosed bool) (int64, error) {
	h := maphash.String(c.seed, key)
	sh := &c.shards[p]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed && !evenClosed {
		return 0, errs.ErrShutdown
	}
	t := &sh.t
	i, found := t.find(h, key)
	var cur int64
	if found {
		cur = t.count(i)
	}
	sum, ok := AddInt64(cur, delta)
	if !ok {
		return 0, fmt.Errorf("%w: %q holds %d, adding %d", errs.ErrOverflow, key, cur, delta)
	}
	if !found && !t.fits(key) {
		return 0, fmt.Errorf("%w: partition %d holds %d bytes of keys, the most until the next flush", errs.ErrOverloaded, p, len(t.arena))
	}
	if log != nil {
		if err := log.Log(sh.seq + 1); err != nil {
			return 0, err
		}
	}
	sh.seq++
	if found {
		t.set(i, sum)
	} else {
		t.insert(i, h, key, sum)
	}
	sh.ops++
	return sum, nil
}

// Get returns the unflushed delta of key in partition p: 0 when none.
func (c *Store) Get(p int, key string) int64 {
	h := maphash.String(c.seed, key)
	sh := &c.shards[p]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if i, ok := sh.t.find(h, key); ok {
		return sh.t.count(i)
	}
	return 0
}

// yieldEvery is how many keys Take copies out between two yields, and
// reserveEvery how many partitions' next tables it makes.
const (
	yieldEvery   = 1024
	reserveEvery = 64
)

// Take swaps the shards' tables out (every shard, or only those listed)
// and returns their contents, the range of op sequence numbers each
// partition taken held, and the number of increments. A final take closes
// the shards: later writes fail with errs.ErrShutdown instead of landing
// after the last flush. The returned slices, and the keys, are the
// caller's (the keys of a partition point into its taken arena), except
// that the Counts of a store that maps its batches (MapBatches) are lent:
// they must come back through Recycle, and nothing may keep them after.
func (c *Store) Take(final bool, only []int) ([]sinks.Count, []sinks.Range, int64) {
	type takenTable struct {
		p int
		t table
	}
	var tables []takenTable
	var keys int
	var ranges []sinks.Range
	var ops int64
	// A flush of every partition makes each one's next table now, sized
	// for the keys it held (most come back), so that the writers do not
	// allocate hundreds of tables at once just after it: allocating while
	// the garbage collector marks charges the allocator with marking work,
	// which this paced goroutine does better than a writer. A partition
	// handed off, or closed, gets an empty one.
	reserve := only == nil && !final
	var pace yield.Pacer
	for i := range Partitions(len(c.shards), only) {
		sh := &c.shards[i]
		sh.mu.Lock()
		if sh.t.n > 0 {
			tables = append(tables, takenTable{i, sh.t})
			keys += sh.t.n
		}
		next := sh.t.successor()
		if reserve {
			next.reserve()
		}
		sh.t = next
		ops += sh.ops
		sh.ops = 0
		if sh.seq > sh.taken {
			ranges = append(ranges, sinks.Range{Partition: i, First: sh.taken + 1, Last: sh.seq})
			sh.taken = sh.seq
		}
		sh.closed = sh.closed || final
		sh.mu.Unlock()
		if reserve && i%reserveEvery == reserveEvery-1 {
			pace.Pause()
		}
	}
	if keys == 0 {
		return nil, ranges, ops
	}
	out, m := c.reuse(keys)
	for _, tt := range tables {
		if m != nil {
			m.arenas = append(m.arenas, tt.t.arena)
		}
		// The partition's arena holds its keys, and nothing writes to it
		// once swapped out: the keys are strings into it, not copies. A
		// flush of hundreds of thousands of keys allocates no string,
		// which would make work for the garbage collector while writers
		// wait.
		arena := unsafe.String(unsafe.SliceData(tt.t.arena), len(tt.t.arena))
		for r := range tt.t.records() {
			out = append(out, sinks.Count{Key: arena[r.key:r.end], Count: r.count, Partition: tt.p})
			if len(out)%yieldEvery == 0 {
				// Hundreds of thousands of keys take milliseconds: let
				// the writers in meanwhile (yield.Pacer).
				pace.Pause()
			}
		}
	}
	return out, ranges, ops
}

// reuse returns an empty slice for keys counts, and its mapping when it
// has one: the spare one when it is large enough and not more than twice
// as large, otherwise a new one, with room for more (roomFor).
func (c *Store) reuse(keys int) ([]sinks.Count, *mapped) {
	c.spareMu.Lock()
	defer c.spareMu.Unlock()
	s := c.spare
	c.spare = nil
	m := c.mappingOf(s)
	if cap(s) >= keys && cap(s) <= 2*keys+minSpare {
		if m != nil {
			m.out = true
		}
		return s[:0], m
	}
	if m != nil {
		c.maps.release(m)
	}
	if c.maps != nil {
		m := c.maps.newMapped(roomFor(keys))
		m.out = true
		return m.counts, m
	}
	return make([]sinks.Count, 0, roomFor(keys)), nil
}

// mappingOf returns the mapping counts lies in, or nil when it is on the
// Go heap.
func (c *Store) mappingOf(counts []sinks.Count) *mapped {
	if c.maps == nil {
		return nil
	}
	return c.maps.lookup(counts)
}

// minSpare is how much larger than a take the spare may be and still be
// reused.
const minSpare = 4096

// Recycle gives back the Counts of a batch Take returned, once nothing
// refers to the slice any more (the sink was a sinks.Borrower): the next
// Take fills it instead of allocating. On a busy node a take of hundreds
// of thousands of keys would otherwise fault megabytes of fresh memory in
// while writers wait.
//
// Recycle clears the Counts first, pausing between chunks (yield.Pacer):
// kept as they were, their keys would hold the last batch's arenas alive,
// and the garbage collector would follow their hundreds of thousands of
// pointers in every cycle until the next take (with 200,000 keys, a mark
// phase of 8-9 ms on a busy core, whose assists writers pay).
//
// A store that maps its batches ignores Counts given back twice, or not
// its own; it unmaps the smaller of two batches given back.
func (c *Store) Recycle(counts []sinks.Count) {
	m := c.mappingOf(counts)
	c.spareMu.Lock()
	if c.maps != nil {
		if m == nil || !m.out {
			// Not a batch out of this store: given back twice.
			c.spareMu.Unlock()
			return
		}
		m.out = false
	}
	c.spareMu.Unlock()
	var pace yield.Pacer
	for i := 0; i < len(counts); i += clearEvery {
		clear(counts[i:min(i+clearEvery, len(counts))])
		pace.Pause()
	}
	if m != nil {
		m.arenas = nil // cleared: nothing points into them any more
	}
	c.spareMu.Lock()
	defer c.spareMu.Unlock()
	if cap(counts) > cap(c.spare) {
		counts, c.spare = c.spare, counts[:0]
		m = c.mappingOf(counts)
	}
	if m != nil {
		c.maps.release(m) // the smaller one
	}
}

// clearEvery is how many Counts Recycle clears between two pauses.
const clearEvery = 8 * yieldEvery

// Stats counts the keys and increments held.
func (c *Store) Stats() (keys int, ops int64) {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		keys += sh.t.n
		ops += sh.ops
		sh.mu.Unlock()
	}
	return keys, ops
}

// Len counts the keys held.
func (c *Store) Len() int {
	keys, _ := c.Stats()
	return keys
}

// AddInt64 returns a+b and whether it did not overflow.
func AddInt64(a, b int64) (int64, bool) {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return 0, false
	}
	return a + b, true
}

// Partitions yields only, or every partition below n when only is nil.
func Partitions(n int, only []int) iter.Seq[int] {
	return func(yield func(int) bool) {
		if only != nil {
			for _, p := range only {
				if !yield(p) {
					return
				}
			}
			return
		}
		for p := range n {
			if !yield(p) {
				return
			}
		}
	}
}
