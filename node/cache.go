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

type cacheEntry struct {
	value  []byte
	loaded int64        // unix nanos of the load, set or refresh that stored it
	access atomic.Int64 // unix nanos of the last read
}

// loadCall is one load in flight; later misses of the key wait on it.
type loadCall struct {
	waiters []func(loadOutcome)
	stale   bool // a Set or Delete of the key happened during the load
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

// get returns key's cached value in partition p.
func (c *cacheState) get(p int, key string) ([]byte, bool) {
	now := time.Now().UnixNano()
	sh := &c.shards[p]
	sh.mu.Lock()
	e := sh.m[key]
	if e != nil && c.expired(e, now) {
		delete(sh.m, key)
		c.entries.Add(-1)
		e = nil
	}
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
	c.storeLocked(sh, key, value)
	if call := sh.loads[key]; call != nil {
		call.stale = true
	}
	sh.mu.Unlock()
	c.evict()
}

// storeLocked puts a fresh entry for key in sh, whose lock is held.
func (c *cacheState) storeLocked(sh *cacheShard, key string, value []byte) {
	now := time.Now().UnixNano()
	e := &cacheEntry{value: value, loaded: now}
	e.access.Store(now)
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

// startLoad registers a caller waiting for key's value. It returns true for
// the first caller, which must run the load and call finishLoad; later
// callers only wait.
func (c *cacheState) startLoad(p int, key string, wait func(loadOutcome)) bool {
	sh := &c.shards[p]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if call, ok := sh.loads[key]; ok {
		call.waiters = append(call.waiters, wait)
		return false
	}
	if sh.loads == nil {
		sh.loads = make(map[string]*loadCall)
	}
	sh.loads[key] = &loadCall{waiters: []func(loadOutcome){wait}}
	return true
}

// finishLoad ends key's load: the value is cached when save is set and the
// load found one, and every waiter gets the outcome.
func (c *cacheState) finishLoad(p int, key string, out loadOutcome, save bool) {
	sh := &c.shards[p]
	sh.mu.Lock()
	call := sh.loads[key]
	delete(sh.loads, key)
	// Stored under the same lock that ends the load, so a Set that comes
	// after cannot be overwritten by this older value.
	stored := save && out.found && out.err == nil && (call == nil || !call.stale)
	if stored {
		c.storeLocked(sh, key, out.value)
	}
	sh.mu.Unlock()
	if stored {
		c.evict()
	}
	if call != nil {
		for _, w := range call.waiters {
			w(out)
		}
	}
}

// evict removes entries while the cache holds more than maxEntries,
// least recently used first, approximately: it samples a few entries and
// evicts the one read longest ago, as Redis does.
func (c *cacheState) evict() {
	if c.maxEntries <= 0 {
		return
	}
	for c.entries.Load() > int64(c.maxEntries) {
		var victimShard *cacheShard
		var victimKey string
		oldest := int64(1<<63 - 1)
		for range 5 {
			sh := &c.shards[rand.IntN(len(c.shards))]
			sh.mu.Lock()
			for k, e := range sh.m { // map order is random: the first few are a sample
				if a := e.access.Load(); a < oldest {
					oldest, victimShard, victimKey = a, sh, k
				}
				break
			}
			sh.mu.Unlock()
		}
		if victimShard == nil {
			// The samples hit empty shards: walk to the first non-empty one.
			for i := range c.shards {
				sh := &c.shards[i]
				sh.mu.Lock()
				for k := range sh.m {
					victimShard, victimKey = sh, k
					break
				}
				sh.mu.Unlock()
				if victimShard != nil {
					break
				}
			}
			if victimShard == nil {
				return
			}
		}
		victimShard.mu.Lock()
		if _, ok := victimShard.m[victimKey]; ok {
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

// dropPartition removes every entry of partition p.
func (c *cacheState) dropPartition(p int) int {
	sh := &c.shards[p]
	sh.mu.Lock()
	n := len(sh.m)
	sh.m = nil
	sh.mu.Unlock()
	c.entries.Add(int64(-n))
	return n
}

// cachedEntry is one entry as listed for refresh and dumps.
type cachedEntry struct {
	Partition int
	Key       string
	Value     []byte
	Loaded    time.Time
}

// list returns every entry (shard by shard, so not one instant's view).
func (c *cacheState) list() []cachedEntry {
	var out []cachedEntry
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			out = append(out, cachedEntry{Partition: i, Key: k, Value: e.value, Loaded: time.Unix(0, e.loaded)})
		}
		sh.mu.Unlock()
	}
	return out
}
