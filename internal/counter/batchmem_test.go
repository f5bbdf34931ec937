package counter

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	"github.com/hoard-dev/hoard/sinks"
)

// The Counts of a mapping store are outside the Go heap, so the garbage
// collector does not see their keys: the store keeps the taken arenas alive
// until the batch comes back. The taken tables are garbage once Take
// returns; collections and new allocations that would reuse their memory
// must leave every key of the batch as it was.
func TestMappedCountsKeepTheirKeysAlive(t *testing.T) {
	s := New(4)
	s.MapBatches()
	const n = 20_000
	addKeys(t, s, "key-", n, 3)
	got, _, _ := s.Take(false, nil)
	if s.mappingOf(got) == nil {
		t.Fatal("the batch of a mapping store is on the Go heap")
	}
	var junk [][]byte
	for range 3 {
		runtime.GC()
		for range 64 {
			junk = append(junk, bytes.Repeat([]byte{'Z'}, 32<<10))
		}
	}
	runtime.KeepAlive(junk)
	if len(got) != n {
		t.Fatalf("took %d keys, want %d", len(got), n)
	}
	seen := make(map[string]bool, n)
	for _, c := range got {
		if c.Count != 3 || seen[c.Key] {
			t.Fatalf("the batch holds %q counting %d (seen before: %v): its arena was freed and reused", c.Key, c.Count, seen[c.Key])
		}
		seen[c.Key] = true
	}
	for i := range n {
		if k := fmt.Sprint("key-", i); !seen[k] {
			t.Fatalf("%q is missing from the batch", k)
		}
	}
}

// A mapping store reuses its batch memory like a heap one, with room for a
// quarter more keys, and unmaps what it no longer needs: the smaller of two
// batches given back, and a spare too small for a take. A batch given back
// twice is ignored.
func TestMappedCountsAreReusedAndReleased(t *testing.T) {
	s := New(4)
	s.MapBatches()
	live := func() int {
		s.maps.mu.Lock()
		defer s.maps.mu.Unlock()
		return len(s.maps.live)
	}
	addKeys(t, s, "a", 100, 1)
	first, _, _ := s.Take(false, nil)
	addKeys(t, s, "b", 10, 1)
	small, _, _ := s.Take(false, nil)
	if live() != 2 {
		t.Fatalf("two batches out: %d mappings, want 2", live())
	}
	s.Recycle(first)
	s.Recycle(small)
	s.Recycle(small)
	if live() != 1 {
		t.Fatalf("two batches given back: %d mappings, want 1 (the larger one)", live())
	}
	addKeys(t, s, "c", 120, 1) // more keys than the first take, within its room
	second, _, _ := s.Take(false, nil)
	if &second[0] != &first[0] {
		t.Fatal("a take of a fifth more keys did not reuse the spare")
	}
	for _, c := range second {
		if c.Key[0] != 'c' || c.Count != 1 {
			t.Fatalf("the second batch holds %+v, want only c* keys", c)
		}
	}
	s.Recycle(second)
	s.Recycle(second)
	addKeys(t, s, "d", 1000, 1) // more than the spare has room for
	third, _, _ := s.Take(false, nil)
	if len(third) != 1000 || &third[0] == &first[0] {
		t.Fatal("a take larger than the spare did not map new memory")
	}
	if live() != 1 {
		t.Fatalf("%d mappings after the spare was outgrown, want 1", live())
	}
	s.maps.releaseAll()
	if live() != 0 {
		t.Fatal("releaseAll left mappings")
	}
}

// Without MapBatches, and for a heap store's spare, a take with a quarter
// more keys still reuses the Counts.
func TestHeapCountsLeaveRoomForMoreKeys(t *testing.T) {
	s := New(4)
	addKeys(t, s, "a", 100, 1)
	first, _, _ := s.Take(false, nil)
	if s.mappingOf(first) != nil || cap(first) != roomFor(100) {
		t.Fatalf("a heap store's take: cap %d (mapped: %v), want %d on the heap", cap(first), s.mappingOf(first) != nil, roomFor(100))
	}
	s.Recycle(first)
	addKeys(t, s, "b", 125, 1)
	second, _, _ := s.Take(false, nil)
	if &second[0] != &first[0] {
		t.Fatal("a take of a quarter more keys did not reuse the spare")
	}
	var empty sinks.Count
	if second[0] == empty {
		t.Fatal("the second take is empty")
	}
}
