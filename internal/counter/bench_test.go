package counter

import (
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// benchPartitions is hoard's default partition count.
const benchPartitions = 1021

// benchKey returns the i-th key of the benchmarks, "000000123456", freshly
// allocated, and its partition.
func benchKey(i int) (string, int) {
	var buf [12]byte
	s := strconv.AppendInt(buf[:0], int64(i), 10)
	k := make([]byte, 12-len(s), 12)
	for j := range k {
		k[j] = '0'
	}
	key := string(append(k, s...))
	return key, int(xxhash.Sum64String(key) % benchPartitions)
}

// benchKeys returns n keys and their partitions.
func benchKeys(n int) ([]string, []int) {
	keys, parts := make([]string, n), make([]int, n)
	for i := range n {
		keys[i], parts[i] = benchKey(i)
	}
	return keys, parts
}

// heapBytesPerKey measures how much live heap a store grows by per
// distinct key, over n keys. Each key is allocated afresh just before its
// Add, as a key decoded from a request is, so that a store which keeps the
// caller's string is charged for it.
func heapBytesPerKey(b *testing.B, n int) float64 {
	b.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := New(benchPartitions)
	for i := range n {
		key, p := benchKey(i)
		if _, err := c.Add(p, key, 1, nil); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if c.Len() != n {
		b.Fatalf("%d keys held, want %d", c.Len(), n)
	}
	runtime.KeepAlive(c)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}

// BenchmarkAddDistinctKeys adds keys never seen before, 1,000,000 to a
// store (then a fresh store), over the default 1021 partitions; ns/op is
// one Add, growth included. heap-bytes/key is the live heap a store of
// 1,000,000 keys holds, per key.
func BenchmarkAddDistinctKeys(b *testing.B) {
	const n = 1_000_000
	keys, parts := benchKeys(n)
	c := New(benchPartitions)
	i := 0
	for b.Loop() {
		if i == n {
			b.StopTimer()
			c, i = New(benchPartitions), 0
			b.StartTimer()
		}
		if _, err := c.Add(parts[i], keys[i], 1, nil); err != nil {
			b.Fatal(err)
		}
		i++
	}
	runtime.KeepAlive(c)
	b.ReportMetric(heapBytesPerKey(b, n), "heap-bytes/key")
}

// BenchmarkAddExistingKeys increments 100,000 keys already held, in a
// fixed random order; ns/op is one Add. The keys added are other strings
// (of the same bytes) than those first added, as a request's key is, so
// that a store which keeps the caller's string reads it from memory of its
// own, as it would in a node.
func BenchmarkAddExistingKeys(b *testing.B) {
	const n = 100_000
	held, _ := benchKeys(n)
	c := New(benchPartitions)
	keys, parts := benchKeys(n)
	for i := range held {
		if _, err := c.Add(parts[i], held[i], 1, nil); err != nil {
			b.Fatal(err)
		}
	}
	order := rand.New(rand.NewPCG(1, 2)).Perm(n)
	i := 0
	for b.Loop() {
		k := order[i]
		if _, err := c.Add(parts[k], keys[k], 1, nil); err != nil {
			b.Fatal(err)
		}
		if i++; i == n {
			i = 0
		}
	}
}

// BenchmarkTake swaps out a store of 100,000 keys; ns/op is one Take.
func BenchmarkTake(b *testing.B) {
	const n = 100_000
	keys, parts := benchKeys(n)
	for b.Loop() {
		b.StopTimer()
		c := New(benchPartitions)
		for i := range keys {
			if _, err := c.Add(parts[i], keys[i], 1, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if got, _, _ := c.Take(false, nil); len(got) != n {
			b.Fatalf("took %d keys, want %d", len(got), n)
		}
	}
}

// BenchmarkFlushCycle is a busy counter store between two flushes: the
// same 200,000 keys incremented once each, then taken and the batch given
// back (a sinks.Borrower's settle). B/op is what a cycle allocates, the
// garbage the collector chases on a node flushing every few seconds.
func BenchmarkFlushCycle(b *testing.B) {
	const n = 200_000
	keys, parts := benchKeys(n)
	c := New(benchPartitions)
	b.ReportAllocs()
	for b.Loop() {
		for i := range keys {
			if _, err := c.Add(parts[i], keys[i], 1, nil); err != nil {
				b.Fatal(err)
			}
		}
		got, _, _ := c.Take(false, nil)
		if len(got) != n {
			b.Fatalf("took %d keys, want %d", len(got), n)
		}
		c.Recycle(got)
	}
}
