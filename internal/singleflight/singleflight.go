package singleflight

// Group tracks at most one call in flight per key. It is not safe for
// concurrent use: the caller guards it with its own lock, the one that also
// guards what the calls' results are stored in. The zero Group is ready to
// use.
type Group[T any] struct {
	calls map[string]*call[T] // calls in flight, one per key
}

// call is one call in flight; later callers of its key wait on it.
type call[T any] struct {
	waiters []func(T)
	stale   bool // a write of the key (or the loss of all keys) happened during the call
}

// Join registers wait for key's call. It returns true for the caller that
// must run the call and then call Finish: the first since the key's last
// Finish. Later callers only wait. wait may be nil for a caller that wants
// no result.
func (g *Group[T]) Join(key string, wait func(T)) (first bool) {
	if c, ok := g.calls[key]; ok {
		if wait != nil {
			c.waiters = append(c.waiters, wait)
		}
		return false
	}
	if g.calls == nil {
		g.calls = make(map[string]*call[T])
	}
	c := &call[T]{}
	if wait != nil {
		c.waiters = []func(T){wait}
	}
	g.calls[key] = c
	return true
}

// MarkStale records that key was written (set or deleted) during its call:
// the call's result must not be stored. Without a call of key in flight it
// does nothing.
func (g *Group[T]) MarkStale(key string) {
	if c := g.calls[key]; c != nil {
		c.stale = true
	}
}

// MarkAllStale marks every call in flight stale, e.g. when the keys'
// partition was dropped.
func (g *Group[T]) MarkAllStale() {
	for _, c := range g.calls {
		c.stale = true
	}
}

// Finish ends key's call. It returns the call's waiters, which the caller
// should call outside its lock, and whether the call went stale. Without a
// call of key in flight it returns (nil, false). The returned slice is the
// caller's.
func (g *Group[T]) Finish(key string) (waiters []func(T), stale bool) {
	c := g.calls[key]
	if c == nil {
		return nil, false
	}
	delete(g.calls, key)
	return c.waiters, c.stale
}

// Len returns how many calls are in flight.
func (g *Group[T]) Len() int {
	return len(g.calls)
}

// InFlight reports whether key has a call in flight.
func (g *Group[T]) InFlight(key string) bool {
	_, ok := g.calls[key]
	return ok
}
