package cache

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hoard-dev/hoard/internal/singleflight"
)

// ErrInvalidConfig is returned by Config.Validate.
var ErrInvalidConfig = errors.New("cache: invalid config")

// Config sizes a Store.
type Config struct {
	// Partitions is how many partitions the store holds, one shard (index and
	// lock) each; the p argument of every method is in [0, Partitions).
	// It must be at least 1.
	Partitions int

	// TTL drops an entry not read or refreshed for this long: a shorter
	// TTL frees memory sooner and costs more loads. Zero: never.
	TTL time.Duration

	// MaxEntries bounds the entries the store holds; above it the least
	// recently read are evicted (approximately, by sampling). Zero: no
	// bound.
	MaxEntries int
}

// Validate reports a config New cannot use, wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case c.Partitions < 1:
		return fmt.Errorf("%w: partitions %d must be at least 1", ErrInvalidConfig, c.Partitions)
	case c.TTL < 0:
		return fmt.Errorf("%w: ttl %v must not be negative", ErrInvalidConfig, c.TTL)
	case c.MaxEntries < 0:
		return fmt.Errorf("%w: max entries %d must not be negative", ErrInvalidConfig, c.MaxEntries)
	}
	return nil
}

// Store holds a cache store's entries at their owner, sharded by
// partition. Reads take the shard's lock for an index lookup only; the time
// of the read is recorded atomically on the entry. A Store is safe for
// concurrent use; it starts no goroutine but for Refresh's loads.
type Store struct {
	seed       maphash.Seed // hashes keys in the shards' indexes, random per Store against key flooding
	ttl        time.Duration
	maxEntries int
	now        func() int64 // unix nanos; a field so that tests can move time

	shards   []shard
	entries  atomic.Int64
	expiring atomic.Int64 // entries held with an expiry: the sum of the shards' expiring
	deletes  atomic.Int64 // deletes remembered: the sum of the shards' len(deleted)
	// restoredAt is when Restore last stored an entry (unix nanos): the
	// shards know the entries read from the dump for DeleteMemory after
	// (see Adopt); 0 once they forgot them, or had none.
	restoredAt atomic.Int64
}

type shard struct {
	// mu guards idx, expiring, loads, deleted and restored.
	mu       sync.Mutex
	idx      index                       // the entries by key
	expiring int                         // entries of idx with an expiry
	loads    singleflight.Group[Outcome] // loads in flight, one per key
	// deleted holds the keys deleted in the partition, each with when,
	// for DeleteMemory (see Adopt).
	deleted map[string]int64
	// restored holds the entries Restore stored, until Sweep forgets them
	// (see Store.restoredAt); an entry replaced or removed since is no
	// longer in m, and stays here (alive) until then.
	restored map[*Entry]struct{}
}

// Outcome is what a load gave the callers waiting on it.
type Outcome struct {
	Value []byte
	Found bool  // false: the loader said the key does not exist
	Err   error // the load failed; Value and Found mean nothing
}

// New returns an empty store. cfg must be valid (see Config.Validate):
// New does not check it.
func New(cfg Config) *Store {
	return &Store{
		seed:       maphash.MakeSeed(),
		ttl:        cfg.TTL,
		maxEntries: cfg.MaxEntries,
		now:        func() int64 { return time.Now().UnixNano() },
		shards:     make([]shard, cfg.Partitions),
	}
}

// Len returns how many entries the store holds, expired ones not yet
// dropped included.
func (c *Store) Len() int {
	return int(c.entries.Load())
}

// expired reports whether e has gone unread and unrefreshed for the TTL,
// or reached its own expiry.
func (c *Store) expired(e *Entry, now int64) bool {
	return e.pastExpiry(now) || c.ttl > 0 && now-max(e.loaded, e.access.Load()) > int64(c.ttl)
}

// expiryAfter returns the expiry of an entry stored at now for ttl: 0 (none)
// for a ttl <= 0; the farthest time an int64 holds if now+ttl overflows.
func expiryAfter(now int64, ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	if int64(ttl) > math.MaxInt64-now {
		return math.MaxInt64
	}
	return now + int64(ttl)
}

// lookupLocked returns key's live entry in sh (lock held), dropping it if
// it expired. A zero now, from a store that reads no access times, reads
// the clock only for an entry with an expiry of its own.
func (c *Store) lookupLocked(sh *shard, key string, now int64) *Entry {
	h := c.hash(key)
	e, _ := sh.idx.lookup(h, key)
	if e == nil {
		return nil
	}
	if now == 0 && e.expires != 0 {
		now = c.now()
	}
	if c.expired(e, now) {
		c.removeLocked(sh, h, key, e)
		return nil
	}
	return e
}

// Get returns key's cached value in partition p. The value is shared:
// callers must not modify it.
func (c *Store) Get(p int, key string) ([]byte, bool) {
	var now int64
	if c.readsAccess() {
		// Only then is the time of the read kept: the clock was 4% of the
		// agent's CPU under pipelined GETs.
		now = c.now()
	}
	sh := &c.shards[p]
	sh.mu.Lock()
	e := c.lookupLocked(sh, key, now)
	sh.mu.Unlock()
	if e == nil {
		return nil, false
	}
	if now != 0 {
		e.access.Store(now)
	}
	return e.value, true
}

// readsAccess reports whether entries' access times are read: by the TTL,
// which drops an entry unread for that long, and by the eviction past
// MaxEntries, of the least recently read first.
func (c *Store) readsAccess() bool { return c.ttl > 0 || c.maxEntries > 0 }

// Set stores value for key in partition p, replacing any entry, with no
// expiry. A load of the key in flight will not overwrite it with what it
// read before. The store keeps value: the caller must not modify it
// afterwards.
func (c *Store) Set(p int, key string, value []byte) {
	c.SetTTL(p, key, value, 0)
}

// SetTTL is Set with an expiry ttl from now: from then on the entry is gone
// (reads miss and a read-through loads again), however often it is read or
// refreshed meanwhile. A ttl <= 0 sets no expiry.
func (c *Store) SetTTL(p int, key string, value []byte, ttl time.Duration) {
	now := c.now()
	sh := &c.shards[p]
	sh.mu.Lock()
	e, k := newEntry(key, value, now, expiryAfter(now, ttl))
	c.storeLocked(sh, k, e)
	sh.loads.MarkStale(key)
	sh.mu.Unlock()
	c.evict(sh, key)
}

// storeLocked puts e for key in sh, whose lock is held.
func (c *Store) storeLocked(sh *shard, key string, e *Entry) {
	old, ok := sh.idx.put(c.hash(key), key, e)
	switch {
	case !ok:
		c.entries.Add(1)
	case old.expires != 0:
		c.countExpiring(sh, -1)
	}
	if e.expires != 0 {
		c.countExpiring(sh, 1)
	}
}

// removeLocked deletes key, whose hash is h and whose entry is e, from sh
// (lock held).
func (c *Store) removeLocked(sh *shard, h uint64, key string, e *Entry) {
	sh.idx.take(h, key)
	c.dropped(sh, e)
}

// dropped counts e, just removed from sh's index, out of the store (lock
// held).
func (c *Store) dropped(sh *shard, e *Entry) {
	c.entries.Add(-1)
	if e.expires != 0 {
		c.countExpiring(sh, -1)
	}
}

// hash returns key's hash in the shards' indexes.
func (c *Store) hash(key string) uint64 { return maphash.String(c.seed, key) }

// countExpiring adds n to the entries with an expiry sh holds (lock held).
func (c *Store) countExpiring(sh *shard, n int) {
	sh.expiring += n
	c.expiring.Add(int64(n))
}

// Delete removes key from partition p and reports whether there was an
// entry; a load of the key in flight will not cache what it read before,
// and an entry of the key handed over by the partition's previous owner
// within DeleteMemory is not adopted, whether or not there was one here.
func (c *Store) Delete(p int, key string) bool {
	now := c.now()
	sh := &c.shards[p]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.loads.MarkStale(key)
	c.rememberDelete(sh, key, now)
	e, ok := sh.idx.take(c.hash(key), key)
	if !ok {
		return false
	}
	c.dropped(sh, e)
	return true
}

// Refreshed replaces key's entry with value, keeping its last read time
// and its expiry, but only if the entry is still old (the one List
// returned): a Set, Delete or drop since the refresh read it wins. A nil
// value removes the entry (the loader no longer finds the key).
func (c *Store) Refreshed(p int, key string, old *Entry, value []byte) {
	sh := &c.shards[p]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	h := c.hash(key)
	if e, _ := sh.idx.lookup(h, key); old == nil || e != old {
		return
	}
	if value == nil {
		c.removeLocked(sh, h, key, old)
		return
	}
	e, k := newEntry(key, value, c.now(), old.expires)
	e.access.Store(old.access.Load())
	c.storeLocked(sh, k, e)
}

// StartLoad looks key up in partition p and, on a miss, registers wait as a
// caller waiting for its load. It returns the cached value on a hit (wait
// is then dropped); otherwise first is true for the caller that must run
// the load and call FinishLoad, and false for callers that only wait. The
// check and the registration share one lock, so a load that just finished
// is never run again.
func (c *Store) StartLoad(p int, key string, wait func(Outcome)) (value []byte, hit, first bool) {
	now := c.now()
	sh := &c.shards[p]
	sh.mu.Lock()
	if e := c.lookupLocked(sh, key, now); e != nil {
		sh.mu.Unlock()
		e.access.Store(now)
		return e.value, true, false
	}
	defer sh.mu.Unlock()
	return nil, false, sh.loads.Join(key, wait)
}

// FinishLoad ends key's load in partition p: the value is cached, with no
// expiry, when save is set, the load found one and nothing made it stale
// (a Set, Delete or TakePartition during the load), and every waiter gets
// out, called without the store's locks held. The store keeps out.Value
// when it caches it.
func (c *Store) FinishLoad(p int, key string, out Outcome, save bool) {
	sh := &c.shards[p]
	sh.mu.Lock()
	waiters, stale := sh.loads.Finish(key)
	// Stored under the same lock that ends the load, so a Set that comes
	// after cannot be overwritten by this older value.
	stored := save && out.Found && out.Err == nil && !stale
	if stored {
		e, k := newEntry(key, out.Value, c.now(), 0)
		c.storeLocked(sh, k, e)
	}
	sh.mu.Unlock()
	if stored {
		c.evict(sh, key)
	}
	for _, w := range waiters {
		w(out)
	}
}

// evictSamples is how many entries an eviction compares.
const evictSamples = 5

// evict removes entries while the store holds more than maxEntries, least
// recently read first, approximately: it walks the shards from a random
// one, samples a few entries and evicts the one read longest ago, as Redis
// does. The entry just stored (justSet in shard justShard) is never the
// victim.
func (c *Store) evict(justShard *shard, justSet string) {
	if c.maxEntries <= 0 {
		return
	}
	for c.entries.Load() > int64(c.maxEntries) {
		var victimShard *shard
		var victimKey string
		var victim *Entry
		oldest := int64(1<<63 - 1)
		samples := 0
		start := rand.IntN(len(c.shards))
		for i := 0; i < len(c.shards) && samples < evictSamples; i++ {
			sh := &c.shards[(start+i)%len(c.shards)]
			sh.mu.Lock()
			sh.idx.sample(rand.Int(), func(k string, e *Entry) bool {
				if sh == justShard && k == justSet {
					return true
				}
				if a := e.access.Load(); a < oldest {
					oldest, victimShard, victimKey, victim = a, sh, k, e
				}
				samples++
				return samples < evictSamples
			})
			sh.mu.Unlock()
		}
		if victim == nil {
			return
		}
		victimShard.mu.Lock()
		h := c.hash(victimKey)
		if e, _ := victimShard.idx.lookup(h, victimKey); e == victim {
			c.removeLocked(victimShard, h, victimKey, victim)
		}
		victimShard.mu.Unlock()
	}
}

// Sweep drops expired entries, those unread for the TTL and those past
// their own expiry, forgets deletes older than DeleteMemory and, once
// DeleteMemory passed since the last Restore, which entries came from the
// dump. With no TTL it visits only the partitions holding entries with an
// expiry or deletes, and returns at once when there are none and no
// Restore is that recent.
func (c *Store) Sweep() {
	restoredAt := c.restoredAt.Load()
	if c.ttl <= 0 && c.expiring.Load() == 0 && c.deletes.Load() == 0 && restoredAt == 0 {
		return
	}
	now := c.now()
	forgetRestored := restoredAt != 0 && now-restoredAt >= int64(DeleteMemory)
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		if len(sh.deleted) > 0 {
			c.forgetDeletes(sh, now, false)
		}
		if forgetRestored && c.restoredAt.Load() == restoredAt { // no Restore since
			sh.restored = nil
		}
		if c.ttl > 0 || sh.expiring > 0 {
			sh.idx.each(func(_ string, e *Entry) bool {
				if !c.expired(e, now) {
					return false
				}
				c.dropped(sh, e)
				return true
			})
		}
		sh.mu.Unlock()
	}
	if forgetRestored {
		c.restoredAt.CompareAndSwap(restoredAt, 0) // unless a Restore came meanwhile
	}
}

// TakePartition removes every entry of partition p and returns them, for
// the partition's new owner, each with the time it has left before its
// expiry (entries past their expiry are dropped, not returned), with the
// keys deleted in p within DeleteMemory that hold no entry since, or one
// past its expiry (see AdoptDelete); p forgets them. It makes p's loads in flight stale so
// they do not store into a partition this node lost; their waiters still
// get their outcome.
func (c *Store) TakePartition(p int) (entries []Listed, deletes []Deleted) {
	now := c.now()
	sh := &c.shards[p]
	sh.mu.Lock()
	held := sh.idx.n
	entries = make([]Listed, 0, held)
	sh.idx.each(func(k string, e *Entry) bool {
		if !e.pastExpiry(now) {
			entries = append(entries, listed(p, k, e, now))
		}
		return false
	})
	for k, at := range sh.deleted {
		if e, ok := sh.idx.lookup(c.hash(k), k); (!ok || e.pastExpiry(now)) && now-at < int64(DeleteMemory) {
			deletes = append(deletes, Deleted{Partition: p, Key: k, At: time.Unix(0, at)})
		}
	}
	sh.idx, sh.restored = index{}, nil
	c.countExpiring(sh, -sh.expiring)
	c.forgetDeletes(sh, now, true)
	sh.loads.MarkAllStale()
	sh.mu.Unlock()
	c.entries.Add(int64(-held))
	return entries, deletes
}

// put stores value for key in partition p, loaded at loaded and expiring
// at expires (unix nanos, 0: never), unless it has expired. adopt: as
// Adopt, else as Restore.
func (c *Store) put(p int, key string, value []byte, loaded time.Time, expires int64, adopt bool) bool {
	e, k := newEntry(key, value, loaded.UnixNano(), expires)
	now := c.now()
	if c.expired(e, now) {
		return false
	}
	sh := &c.shards[p]
	sh.mu.Lock()
	if adopt && !c.adoptableLocked(sh, key, e.loaded, now) {
		sh.mu.Unlock()
		return false
	}
	c.storeLocked(sh, k, e)
	if !adopt {
		c.noteRestored(sh, e, now)
	}
	sh.mu.Unlock()
	c.evict(sh, key)
	return true
}

// Restore puts an entry read from a dump into partition p, keeping its age
// and its expiry: loaded is when it was first stored, and counts as its
// last read too; expires is when it expires, the zero Time for never. An
// entry whose TTL already ran out, or past its expiry, is skipped, and
// Restore returns false. The store keeps value.
func (c *Store) Restore(p int, key string, value []byte, loaded, expires time.Time) bool {
	return c.put(p, key, value, loaded, expiryAt(expires), false)
}

// expiryAt returns t as an entry's expiry: 0 (never) for the zero Time,
// else its unix nanos, clamped to [1, MaxInt64] (0 would mean never; a
// date past 2262 overflows UnixNano).
func expiryAt(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	case t.Before(time.Unix(0, 1)):
		return 1
	}
	return t.UnixNano()
}

// Listed is one entry as listed for refresh, dumps and hand-offs.
type Listed struct {
	Partition int
	Key       string
	Entry     *Entry
	// TTL is the time the entry had left before its expiry when it was
	// listed; zero when it has no expiry.
	TTL time.Duration
}

func listed(p int, key string, e *Entry, now int64) Listed {
	l := Listed{Partition: p, Key: key, Entry: e}
	if e.expires != 0 {
		l.TTL = time.Duration(e.expires - now)
	}
	return l
}

// List returns every entry (shard by shard, so not one instant's view),
// those unread for the TTL and not yet dropped included; entries past
// their own expiry are dropped as it goes. The slice is the caller's; the
// entries are shared.
func (c *Store) List() []Listed {
	var out []Listed
	now := c.now()
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.idx.each(func(k string, e *Entry) bool {
			if e.pastExpiry(now) {
				c.dropped(sh, e)
				return true
			}
			out = append(out, listed(i, k, e, now))
			return false
		})
		sh.mu.Unlock()
	}
	return out
}
