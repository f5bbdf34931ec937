package cache

import "time"

// DeleteMemory is how long a store remembers a key deleted in a partition,
// so that an entry of the key handed over late by the partition's previous
// owner (Adopt) does not bring it back: twice the router's 30 s deadline
// for the hand-off's ops (route.DefaultOpTimeout), so that the entries of
// an old owner that learns of the ring change seconds after this node
// still find the delete remembered.
const DeleteMemory = time.Minute

// Deleted is a key deleted in a partition, as handed over to the
// partition's next owner (Store.TakePartition, Store.AdoptDelete).
type Deleted struct {
	Partition int
	Key       string
	At        time.Time
}

// Adopt puts an entry handed over by the partition's previous owner,
// keeping its age and, for a ttl > 0, expiring ttl from now (the time the
// entry had left there: relative, so the nodes' clocks need not agree),
// unless the key has a load in flight or an entry of this node's: one
// set, loaded, refreshed or adopted here came after the partition moved
// (or before it, from another node), so it wins, whatever the clocks say. The exception is an entry read from the
// dump (Restore) within DeleteMemory: a node back from a restart takes
// the entries handed over that were stored after its own (by loaded, on
// the nodes' clocks), those set while it was away. An entry is not
// adopted either when the key was deleted here within DeleteMemory (the
// delete came after the entry was taken from the old owner, or raced
// with it: a miss then loads the key again, where adopting could serve a
// deleted value), or when its TTL ran out. Adopt reports whether it
// stored the entry. The store keeps value.
func (c *Store) Adopt(p int, key string, value []byte, loaded time.Time, ttl time.Duration) bool {
	return c.put(p, key, value, loaded, expiryAfter(c.now(), ttl), true)
}

// AdoptDelete takes a delete of key at at handed over by the partition's
// previous owner: an entry read from the dump (see Adopt) stored before at
// goes, and the delete is remembered from now, for what else is handed
// over, for DeleteMemory. A delete older than DeleteMemory is ignored; one
// from the future (a clock ahead) counts as now. AdoptDelete reports
// whether it removed an entry. A node back from a restart thus drops what
// was deleted at the partition's owner while it was away.
func (c *Store) AdoptDelete(p int, key string, at time.Time) bool {
	now := c.now()
	t := min(at.UnixNano(), now)
	if t <= now-int64(DeleteMemory) {
		return false
	}
	sh := &c.shards[p]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c.rememberDelete(sh, key, now)
	h := c.hash(key)
	e, ok := sh.idx.lookup(h, key)
	if !ok || !c.restoredLocked(sh, e, now) || e.loaded >= t {
		return false
	}
	c.removeLocked(sh, h, key, e)
	return true
}

// adoptableLocked reports whether an entry loaded at loaded, handed over,
// may take key's place in sh (see Adopt; lock held).
func (c *Store) adoptableLocked(sh *shard, key string, loaded, now int64) bool {
	if sh.loads.InFlight(key) || c.deletedLocked(sh, key, now) {
		return false
	}
	old, ok := sh.idx.lookup(c.hash(key), key)
	return !ok || c.restoredLocked(sh, old, now) && old.loaded < loaded
}

// noteRestored records that e, stored by Restore at now, came from the
// dump (lock held).
func (c *Store) noteRestored(sh *shard, e *Entry, now int64) {
	if sh.restored == nil {
		sh.restored = make(map[*Entry]struct{})
	}
	sh.restored[e] = struct{}{}
	c.restoredAt.Store(now)
}

// restoredLocked reports whether e, held in sh, was read from the dump,
// and the last Restore was within DeleteMemory of now (lock held).
func (c *Store) restoredLocked(sh *shard, e *Entry, now int64) bool {
	if _, ok := sh.restored[e]; !ok {
		return false
	}
	at := c.restoredAt.Load()
	return at != 0 && now-at < int64(DeleteMemory)
}

// rememberDelete records that key was deleted in sh at now (lock held).
// The store keeps key.
func (c *Store) rememberDelete(sh *shard, key string, now int64) {
	if sh.deleted == nil {
		sh.deleted = make(map[string]int64)
	}
	if _, ok := sh.deleted[key]; !ok {
		c.deletes.Add(1)
	}
	sh.deleted[key] = now
}

// deletedLocked reports whether key was deleted in sh within DeleteMemory
// (lock held).
func (c *Store) deletedLocked(sh *shard, key string, now int64) bool {
	at, ok := sh.deleted[key]
	return ok && now-at < int64(DeleteMemory)
}

// forgetDeletes drops the deletes sh remembers for DeleteMemory already,
// or all of them (lock held).
func (c *Store) forgetDeletes(sh *shard, now int64, all bool) {
	if all {
		c.deletes.Add(-int64(len(sh.deleted)))
		sh.deleted = nil
		return
	}
	for k, at := range sh.deleted {
		if now-at >= int64(DeleteMemory) {
			delete(sh.deleted, k)
			c.deletes.Add(-1)
		}
	}
	if len(sh.deleted) == 0 {
		sh.deleted = nil // a map does not shrink: let go of a burst's
	}
}
