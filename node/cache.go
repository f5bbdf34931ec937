package node

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// cacheState holds a cache store's entries at their owner, sharded by
// partition. Reads take the shard's lock for a map lookup only; the time
// of the read is recorded atomically on the entry.
type cacheState struct {
	ttl        time.Duration
	maxEntries int

	shards  []cacheShard
	entries atomic.Int64
}

type cacheShard struct {
	// mu guards m and loads.
	mu    sync.Mutex
	m     map[string]*cacheEntry
	loads map[string]*loadCall // loads in flight, one per key
}

// cacheEntry is immutable once stored, but for access; a new value is a
// new entry, so "is the entry still the one I read?" is a pointer check.
type cacheEntry struct {
	value  []byte
	loaded int64        // unix nanos of the load, set or refresh that stored it
	access atomic.Int64 // unix nanos of the last read
}

// loadCall is one load in flight; later misses of the key wait on it.
type loadCall struct {
	waiters []func(loadOutcome)
	stale   bool // a Set, Delete or loss of the partition happened during the load
}

// loadOutcome is what a load gave the callers waiting on it.
type loadOutcome struct {
	value []byte
	found bool
	err   error
}

func newCacheState(partitions int, cfg StoreConfig) *cacheState {
	return &cacheState{ttl: cfg.TTL, maxEntries: cfg.MaxEntries, shards: make([]cacheShard, partitions)}
}

// expired reports whether e has gone unread and unrefreshed for the TTL.
func (c *cacheState) expired(e *cacheEntry, now int64) bool {
	return c.ttl > 0 && now-max(e.loaded, e.access.Load()) > int64(c.ttl)
}

// lookupLocked returns key's live entry in sh (lock held), dropping it if
// it expired.
func (c *cacheState) lookupLocked(sh *cacheShard, key string, now int64) *cacheEntry {
	e := sh.m[key]
	if e != nil && c.expired(e, now) {
		delete(sh.m, key)
		c.entries.Add(-1)
		return nil
	}
	return e
}

// get returns key's cached value in partition p. The value is shared:
// callers must not modify it.
func (c *cacheState) get(p int, key string) ([]byte, bool) {
	now := time.Now().UnixNano()
	sh := &c.shards[p]
	sh.mu.Lock()
	e := c.lookupLocked(sh, key, now)
	sh.mu.Unlock()
	if e == nil {
		return nil, false
	}
	e.access.Store(now)
	return e.value, true
}

// set stores value for key in partition p, replacing any entry. A load of
// the key in flight will not overwrite it with what it read before.
func (c *cacheState) set(p int, key string, value []byte) {
	sh := &c.shards[p]
	sh.mu.Lock()
	c.storeLocked(sh, key, newEntry(value, time.Now().UnixNano()))
	if call := sh.loads[key]; call != nil {
		call.stale = true
	}
	sh.mu.Unlock()
	c.evict(sh, key)
}

func newEntry(value []byte, at int64) *cacheEntry {
	e := &cacheEntry{value: value, loaded: at}
	e.access.Store(at)
	return e
}

// storeLocked puts e for key in sh, whose lock is held.
func (c *cacheState) storeLocked(sh *cacheShard, key string, e *cacheEntry) {
	if sh.m == nil {
		sh.m = make(map[string]*cacheEntry)
	}
	if _, ok := sh.m[key]; !ok {
		c.entries.Add(1)
	}
	sh.m[key] = e
}

// delete removes key from partition p; a load of the key in flight will
// not cache what it read before.
func (c *cacheState) delete(p int, key string) bool {
	sh := &c.shards[p]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if call := sh.loads[key]; call != nil {
		call.stale = true
	}
	if _, ok := sh.m[key]; !ok {
		return false
	}
	delete(sh.m, key)
	c.entries.Add(-1)
	return true
}

// refreshed replaces key's entry with value, keeping its last read time,
// but only if the entry is still old: a Set, Delete or drop since the
// refresh read it wins. A nil value removes the entry (the loader no
// longer finds the key).
func (c *cacheState) refreshed(p int, key string, old *cacheEntry, value []byte) {
	sh := &c.shards[p]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m[key] != old {
		return
	}
	if value == nil {
		delete(sh.m, key)
		c.entries.Add(-1)
		return
	}
	e := newEntry(value, time.Now().UnixNano())
	e.access.Store(old.access.Load())
	sh.m[key] = e
}

// startLoad looks key up and, on a miss, registers a caller waiting for
// its load. It returns the cached value on a hit; otherwise first is true
// for the caller that must run the load and call finishLoad, and false for
// callers that only wait. The check and the registration share one lock,
// so a load that just finished is never run again.
func (c *cacheState) startLoad(p int, key string, wait func(loadOutcome)) (value []byte, hit, first bool) {
	now := time.Now().UnixNano()
	sh := &c.shards[p]
	sh.mu.Lock()
	if e := c.lookupLocked(sh, key, now); e != nil {
		sh.mu.Unlock()
		e.access.Store(now)
		return e.value, true, false
	}
	defer sh.mu.Unlock()
	if call, ok := sh.loads[key]; ok {
		call.waiters = append(call.waiters, wait)
		return nil, false, false
	}
	if sh.loads == nil {
		sh.loads = make(map[string]*loadCall)
	}
	sh.loads[key] = &loadCall{waiters: []func(loadOutcome){wait}}
	return nil, false, true
}

// finishLoad ends key's load: the value is cached when save is set, the
// load found one and nothing made it stale, and every waiter gets the
// outcome.
func (c *cacheState) finishLoad(p int, key string, out loadOutcome, save bool) {
	sh := &c.shards[p]
	sh.mu.Lock()
	call := sh.loads[key]
	delete(sh.loads, key)
	// Stored under the same lock that ends the load, so a Set that comes
	// after cannot be overwritten by this older value.
	stored := save && out.found && out.err == nil && (call == nil || !call.stale)
	if stored {
		c.storeLocked(sh, key, newEntry(out.value, time.Now().UnixNano()))
	}
	sh.mu.Unlock()
	if stored {
		c.evict(sh, key)
	}
	if call != nil {
		for _, w := range call.waiters {
			w(out)
		}
	}
}

// evictSamples is how many entries an eviction compares.
const evictSamples = 5

// evict removes entries while the cache holds more than maxEntries, least
// recently read first, approximately: it walks the shards from a random
// one, samples a few entries and evicts the one read longest ago, as Redis
// does. The entry just stored (justSet in shard justShard) is never the
// victim.
func (c *cacheState) evict(justShard *cacheShard, justSet string) {
	if c.maxEntries <= 0 {
		return
	}
	for c.entries.Load() > int64(c.maxEntries) {
		var victimShard *cacheShard
		var victimKey string
		var victim *cacheEntry
		oldest := int64(1<<63 - 1)
		samples := 0
		start := rand.IntN(len(c.shards))
		for i := 0; i < len(c.shards) && samples < evictSamples; i++ {
			sh := &c.shards[(start+i)%len(c.shards)]
			sh.mu.Lock()
			for k, e := range sh.m { // map order is random: a sample
				if sh == justShard && k == justSet {
					continue
				}
				if a := e.access.Load(); a < oldest {
					oldest, victimShard, victimKey, victim = a, sh, k, e
				}
				if samples++; samples >= evictSamples {
					break
				}
			}
			sh.mu.Unlock()
		}
		if victim == nil {
			return
		}
		victimShard.mu.Lock()
		if victimShard.m[victimKey] == victim {
			delete(victimShard.m, victimKey)
			c.entries.Add(-1)
		}
		victimShard.mu.Unlock()
	}
}

// sweep drops expired entries.
func (c *cacheState) sweep() {
	if c.ttl <= 0 {
		return
	}
	now := time.Now().UnixNano()
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			if c.expired(e, now) {
				delete(sh.m, k)
				c.entries.Add(-1)
			}
		}
		sh.mu.Unlock()
	}
}

// dropPartition removes every entry of partition p, and makes its loads in
// flight stale so they do not store into a partition this node lost.
func (c *cacheState) dropPartition(p int) int {
	sh := &c.shards[p]
	sh.mu.Lock()
	n := len(sh.m)
	sh.m = nil
	for _, call := range sh.loads {
		call.stale = true
	}
	sh.mu.Unlock()
	c.entries.Add(int64(-n))
	return n
}

// restore puts an entry read from a dump, keeping its age; an entry whose
// TTL already ran out is skipped.
func (c *cacheState) restore(p int, key string, value []byte, loaded time.Time) bool {
	e := newEntry(value, loaded.UnixNano())
	if c.expired(e, time.Now().UnixNano()) {
		return false
	}
	sh := &c.shards[p]
	sh.mu.Lock()
	c.storeLocked(sh, key, e)
	sh.mu.Unlock()
	c.evict(sh, key)
	return true
}

// cachedEntry is one entry as listed for refresh and dumps.
type cachedEntry struct {
	Partition int
	Key       string
	Entry     *cacheEntry
}

// list returns every entry (shard by shard, so not one instant's view).
func (c *cacheState) list() []cachedEntry {
	var out []cachedEntry
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			out = append(out, cachedEntry{Partition: i, Key: k, Entry: e})
		}
		sh.mu.Unlock()
	}
	return out
}
