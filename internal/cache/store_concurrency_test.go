package cache

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentMissesShareOneLoad has many callers miss one key at once:
// one runs the load, the others wait on it or hit what it stored, and all
// get its value.
func TestConcurrentMissesShareOneLoad(t *testing.T) {
	const callers = 32
	c := New(Config{Partitions: 4})
	var loads atomic.Int64
	var wg sync.WaitGroup
	got := make(chan string, callers)
	for range callers {
		wg.Go(func() {
			v, hit, first := c.StartLoad(1, "k", func(out Outcome) { got <- string(out.Value) })
			switch {
			case hit:
				got <- string(v)
			case first:
				loads.Add(1)
				c.FinishLoad(1, "k", Outcome{Value: []byte("v"), Found: true}, true)
			}
		})
	}
	wg.Wait()
	close(got)
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d loads, want 1", n)
	}
	var values []string
	for v := range got {
		values = append(values, v)
	}
	if len(values) != callers || slices.ContainsFunc(values, func(v string) bool { return v != "v" }) {
		t.Fatalf("callers got %q, want %d times %q", values, callers, "v")
	}
}

// TestConcurrentUseKeepsTheCount runs sets, reads, deletes, loads and drops
// at once and checks that Len still counts what the store holds and that
// MaxEntries holds.
func TestConcurrentUseKeepsTheCount(t *testing.T) {
	const maxEntries = 20
	c := New(Config{Partitions: 16, TTL: time.Hour, MaxEntries: maxEntries})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				p, key := i%16, fmt.Sprintf("k%d", (i*7+g)%50)
				switch i % 6 {
				case 0:
					c.Set(p, key, []byte(key))
				case 1:
					c.SetTTL(p, key, []byte(key), time.Hour)
				case 2:
					c.Get(p, key)
				case 3:
					c.Delete(p, key)
				case 4:
					if _, _, first := c.StartLoad(p, key, nil); first {
						c.FinishLoad(p, key, Outcome{Value: []byte(key), Found: true}, true)
					}
				case 5:
					if i%60 == 5 {
						c.TakePartition(p)
					}
					c.Sweep()
				}
			}
		})
	}
	wg.Wait()
	if n, listed := c.Len(), len(c.List()); n != listed || n > maxEntries {
		t.Fatalf("Len = %d, List has %d, MaxEntries %d", n, listed, maxEntries)
	}
	expiring := 0
	for i := range c.shards {
		sh := &c.shards[i]
		if n := sh.loads.Len(); n != 0 {
			t.Fatalf("shard %d has %d loads in flight", i, n)
		}
		n := 0
		sh.idx.each(func(_ string, e *Entry) bool {
			if e.expires != 0 {
				n++
			}
			return false
		})
		if n != sh.expiring {
			t.Fatalf("shard %d holds %d entries with an expiry, counts %d", i, n, sh.expiring)
		}
		expiring += n
	}
	if n := c.expiring.Load(); n != int64(expiring) {
		t.Fatalf("the store holds %d entries with an expiry, counts %d", expiring, n)
	}
}
