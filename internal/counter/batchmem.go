package counter

import (
	"runtime"
	"sync"
	"unsafe"

	"github.com/hoard-dev/hoard/sinks"
)

// A counter flush fills one []sinks.Count of every key taken: 6.4 MB for
// 200,000 keys. Made on the Go heap, that memory is zeroed by the
// allocator before make returns, in one stretch that nothing else on the
// processor interrupts for up to 10 ms (the runtime's preemption tick),
// and when the pages have gone back to the kernel since their last use,
// as between flushes seconds apart, every 4 KiB page faults in during that
// stretch: 17-25 ms on a virtual machine where a fault costs 10 us. On a
// node with one processor every writer waits as long.
//
// When the sink gives every batch back (Recycle), the Counts live instead
// in memory mapped for them: the kernel hands it over zeroed, its pages
// fault in one at a time as Take fills them, between the pauses it makes
// for the writers (yield.Pacer), and the next takes reuse it. The garbage
// collector does not see that memory, so the keys in it, which point into
// the taken tables' arenas, do not keep those arenas alive: the Store does,
// from Take until the batch comes back and is cleared (mapped.arenas).
// The clearing (Recycle) must come before any reuse: a Count written over
// a stale key would hand the collector's write barrier a pointer into
// memory freed since.

// mapped is one batch's worth of Counts outside the Go heap.
type mapped struct {
	mem    []byte        // the mapping
	counts []sinks.Count // over mem, cleared; a take fills counts[:0]
	out    bool          // taken and not given back: in use
	arenas [][]byte      // what the keys of the batch out point into
}

// mappings tracks every mapping of a Store, so that none outlives it.
type mappings struct {
	// mu guards live.
	mu   sync.Mutex
	live map[*sinks.Count]*mapped // by their first Count
}

// newMapped maps room for n Counts. Where the system maps no anonymous
// memory, the Counts are on the Go heap instead, with the same life.
func (ms *mappings) newMapped(n int) *mapped {
	m := &mapped{mem: mapAnon(n * int(unsafe.Sizeof(sinks.Count{})))}
	if m.mem != nil {
		m.counts = unsafe.Slice((*sinks.Count)(unsafe.Pointer(unsafe.SliceData(m.mem))), n)[:0]
	} else {
		m.counts = make([]sinks.Count, 0, n)
	}
	ms.mu.Lock()
	ms.live[&m.counts[:1][0]] = m
	ms.mu.Unlock()
	return m
}

// lookup returns the mapping counts (a batch Take returned) lies in, or
// nil when it is none of the live ones.
func (ms *mappings) lookup(counts []sinks.Count) *mapped {
	if cap(counts) == 0 {
		return nil
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.live[&counts[:1][0]]
}

// release unmaps m, which nothing refers to any more (see Recycle).
func (ms *mappings) release(m *mapped) {
	ms.mu.Lock()
	delete(ms.live, &m.counts[:1][0])
	ms.mu.Unlock()
	unmap(m.mem)
}

// releaseAll unmaps every mapping left once the Store is gone, except
// those of batches still out: nothing says that their holder is done with
// them (a batch never given back is a bug elsewhere), so they are kept,
// with the arenas they point into, for as long as the process runs.
func (ms *mappings) releaseAll() {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for k, m := range ms.live {
		delete(ms.live, k)
		if m.out {
			orphans.mu.Lock()
			orphans.kept = append(orphans.kept, m)
			orphans.mu.Unlock()
			continue
		}
		unmap(m.mem)
	}
}

// orphans are the batches out when their Store was collected.
var orphans struct {
	mu   sync.Mutex
	kept []*mapped
}

// MapBatches makes the Store's takes fill Counts outside the Go heap (see
// above): every batch Take returns must come back through Recycle, with
// nothing keeping its Counts after, as a sinks.Borrower's batches do. Call
// it before the first Take.
func (c *Store) MapBatches() {
	ms := &mappings{live: map[*sinks.Count]*mapped{}}
	c.maps = ms
	runtime.AddCleanup(c, func(ms *mappings) { ms.releaseAll() }, ms)
}

// roomFor is the Counts a new batch memory makes room for when a take
// needs keys: a quarter more, so that a store whose keys grow slowly from
// one flush to the next keeps reusing it.
func roomFor(keys int) int { return keys + keys/4 }
