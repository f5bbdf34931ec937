package cache

import (
	"sync/atomic"
	"time"
	"unsafe"
)

// Entry is a cached value. It is immutable once stored, but for its access
// time; a new value is a new entry, so "is the entry still the one I
// read?" is a pointer check.
type Entry struct {
	value   []byte
	loaded  int64        // unix nanos of the load, set or refresh that stored it
	expires int64        // unix nanos from which the entry is gone, whatever its reads; 0: never
	access  atomic.Int64 // unix nanos of the last read, kept when the store reads it (readsAccess)
}

// Value returns the entry's value. It is shared: callers must not modify
// it.
func (e *Entry) Value() []byte { return e.value }

// Loaded returns when the load, set or refresh that stored the entry
// happened (for a restored entry, when it was first stored).
func (e *Entry) Loaded() time.Time { return time.Unix(0, e.loaded) }

// Expires returns when the entry expires, set by SetTTL and kept by
// refreshes; the zero Time when it has no expiry.
func (e *Entry) Expires() time.Time {
	if e.expires == 0 {
		return time.Time{}
	}
	return time.Unix(0, e.expires)
}

// pastExpiry reports whether e has an expiry and it has come.
func (e *Entry) pastExpiry(now int64) bool {
	return e.expires != 0 && now >= e.expires
}

// newEntry returns an entry of value and the string to key it by in a
// shard's index. A short key and value live in the entry's own allocation,
// and the returned key is a view of its bytes there: a read then finds
// the key it compares, the entry and the value in the same one or two
// cache lines, instead of in three allocations. Otherwise the entry
// keeps value and the key is key.
func newEntry(key string, value []byte, at, expires int64) (*Entry, string) {
	var e *Entry
	switch n := len(key) + len(value); {
	case value == nil || n > len(entry128{}.b):
		e = &Entry{value: value}
	case n <= len(entry64{}.b):
		x := &entry64{}
		e, key = &x.Entry, x.hold(x.b[:], key, value)
	default:
		x := &entry128{}
		e, key = &x.Entry, x.hold(x.b[:], key, value)
	}
	e.loaded, e.expires = at, expires
	e.access.Store(at)
	return e, key
}

// entry64 and entry128 are an Entry with room after it for a short key
// and value: objects of 64 and 128 bytes. The entry is their first field,
// so a pointer to it, or into the room, keeps the whole alive.
type (
	entry64 struct {
		Entry
		b [64 - unsafe.Sizeof(Entry{})]byte
	}
	entry128 struct {
		Entry
		b [128 - unsafe.Sizeof(Entry{})]byte
	}
)

// hold copies key and value into room, which follows e in its allocation,
// points e's value at its copy and returns the copy of key. Neither copy
// is ever written again: the key is a string over its bytes.
func (e *Entry) hold(room []byte, key string, value []byte) string {
	k := copy(room, key)
	v := copy(room[k:], value)
	e.value = room[k : k+v : k+v]
	if k == 0 {
		return ""
	}
	return unsafe.String(&room[0], k)
}
