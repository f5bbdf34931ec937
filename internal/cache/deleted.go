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

// AdoptDelete takes a delete of key at at handed over by the partition's
// previous owner: an entry stored before at goes, and the delete is
// remembered, for what else is handed over, until DeleteMemory from at. It
// reports whether it removed an entry. A node restarted from its dump
// thus drops what was deleted at the partition's owner meanwhile.
func (c *Store) AdoptDelete(p int, key string, at time.Time) bool {
	now, t := c.now(), at.UnixNano()
	if now-t >= int64(DeleteMemory) {
		return false
	}
	sh := &c.shards[p]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if prev, ok := sh.deleted[key]; !ok || prev < t {
		c.rememberDelete(sh, key, t)
	}
	e, ok := sh.m[key]
	if !ok || e.loaded >= t {
		return false
	}
	c.removeLocked(sh, key, e)
	return true
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
