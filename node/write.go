package node

import (
	"context"
	"fmt"
	"time"

	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/internal/route"
)

// defaultOpTimeout bounds an op whose context has no deadline.
const defaultOpTimeout = 30 * time.Second

// Incr adds delta to key of a counter store. It returns once the owner has
// applied it (acknowledged in the owner's memory). Errors: ErrUnknownStore,
// ErrWrongKind, ErrInvalidKey, ErrOverflow, ErrUnavailable, ErrIndeterminate,
// ErrNotOwner (rings did not agree in time), ErrShutdown, or the context's
// error.
func (n *Node) Incr(ctx context.Context, store, key string, delta int64) error {
	_, err := n.do(ctx, op.Op{Kind: op.Incr, Store: store, Key: key, Delta: delta})
	return err
}

// Count returns the owner's unflushed delta for key of a counter store: 0
// when it holds none. Async increments still being aggregated on other
// nodes are not included.
func (n *Node) Count(ctx context.Context, store, key string) (int64, error) {
	r, err := n.do(ctx, op.Op{Kind: op.Count, Store: store, Key: key})
	return r.Count, err
}

// Insert appends values, in order, to key of a buffer store (DataBuffer's
// insert and insert_batch). It returns once the owner holds them. The
// values are copied. Values sent by one caller to one key reach the sink in
// the order they were inserted. Errors: those of Incr, and ErrOverloaded
// when the owner holds its max_bytes for the store: back off and retry.
func (n *Node) Insert(ctx context.Context, store, key string, values ...[]byte) error {
	if err := op.CheckValues(n.cfg.MaxValueBytes, values); err != nil {
		return err
	}
	// One allocation for all the copies.
	var total int
	for _, v := range values {
		total += len(v)
	}
	arena := make([]byte, 0, total)
	copies := make([][]byte, len(values))
	for i, v := range values {
		start := len(arena)
		arena = append(arena, v...)
		copies[i] = arena[start:len(arena):len(arena)]
	}
	_, err := n.do(ctx, op.Op{Kind: op.Insert, Store: store, Key: key, Values: copies})
	return err
}

// Size returns how many values key of a buffer store holds at its owner,
// not yet flushed.
func (n *Node) Size(ctx context.Context, store, key string) (int, error) {
	r, err := n.do(ctx, op.Op{Kind: op.Size, Store: store, Key: key})
	return int(r.Count), err
}

// Dump returns the values key of a buffer store holds at its owner, not yet
// flushed, oldest first, without removing them. The slices are the
// caller's to read, not to modify.
func (n *Node) Dump(ctx context.Context, store, key string) ([][]byte, error) {
	r, err := n.do(ctx, op.Op{Kind: op.Dump, Store: store, Key: key})
	return r.Values, err
}

// FetchResult is what Fetch found.
type FetchResult struct {
	Value  []byte
	Found  bool // false: the loader said the key does not exist
	Loaded bool // the value came from the loader (a miss), not the cache
}

// Get returns key's value from a cache store, loading it through the
// store's loader on a miss, at the key's owner (DataWorker's get). A loader
// error is logged there and reported here as not found. Errors: those of
// Incr for the store and key, not the loader's.
func (n *Node) Get(ctx context.Context, store, key string) ([]byte, bool, error) {
	r, err := n.do(ctx, op.Op{Kind: op.Get, Store: store, Key: key})
	return r.Value, r.Found, err
}

// Fetch is Get that says whether the value came from the cache or a load,
// and returns the loader's error wrapped in ErrLoadFailed (DataWorker's
// fetch). Concurrent misses of one key share one load at the owner. On a
// hit at this node the value is the cache's own: read it, do not modify it.
func (n *Node) Fetch(ctx context.Context, store, key string) (FetchResult, error) {
	r, err := n.do(ctx, op.Op{Kind: op.Fetch, Store: store, Key: key})
	return FetchResult{Value: r.Value, Found: r.Found, Loaded: r.Loaded}, err
}

// Set stores value for key in a cache store at its owner, without the
// loader (DataWorker's direct_set). The value is copied.
func (n *Node) Set(ctx context.Context, store, key string, value []byte) error {
	if err := op.CheckValue(n.cfg.MaxValueBytes, value); err != nil {
		return err
	}
	_, err := n.do(ctx, op.Op{Kind: op.Set, Store: store, Key: key, Values: [][]byte{append([]byte(nil), value...)}})
	return err
}

// Delete removes key from a cache store at its owner; it reports whether
// there was an entry.
func (n *Node) Delete(ctx context.Context, store, key string) (bool, error) {
	r, err := n.do(ctx, op.Op{Kind: op.Delete, Store: store, Key: key})
	return r.Deleted, err
}

// do runs o and waits for its result. An op this node can answer at once
// (it owns the key; for a cache, a hit) runs on the caller's goroutine.
func (n *Node) do(ctx context.Context, o op.Op) (op.Result, error) {
	s, err := n.checkOp(o.Kind, o.Store, o.Key)
	if err != nil {
		return op.Result{}, err
	}
	if snap := n.cluster.Ring(); snap != nil {
		if p, owner := snap.Locate(o.Store, o.Key); owner.Name == n.cfg.Name {
			// A cache hit's value is the cache's: Get and Fetch say callers
			// must not modify it.
			if r, ok := s.eng.Apply(&o, p, nil); ok {
				return r, r.Err
			}
		}
	}
	ch := make(chan op.Result, 1)
	n.router.Route(&route.Call{Op: o, Target: s.eng, Deadline: deadlineOf(ctx), Done: func(r op.Result) { ch <- r }})
	select {
	case r := <-ch:
		return r, r.Err
	case <-ctx.Done():
		if o.Kind.Spec().Write {
			// The op is on its way and may still be applied.
			return op.Result{}, fmt.Errorf("%w: %w", ErrIndeterminate, ctx.Err())
		}
		return op.Result{}, ctx.Err()
	}
}

func deadlineOf(ctx context.Context) time.Time {
	if dl, ok := ctx.Deadline(); ok {
		return dl
	}
	return time.Now().Add(defaultOpTimeout)
}

// checkOp validates an op's arguments and returns its store.
func (n *Node) checkOp(kind op.Kind, storeName, key string) (*store, error) {
	if n.refusing() {
		return nil, ErrShutdown
	}
	s, err := n.store(storeName)
	if err != nil {
		return nil, err
	}
	if err := s.accepts(kind); err != nil {
		return nil, err
	}
	if err := op.CheckKey(storeName, key); err != nil {
		return nil, err
	}
	return s, nil
}

// resolve checks an op a peer forwarded and returns the store applying it.
func (n *Node) resolve(o *op.Op) (route.Applier, error) {
	s, err := n.store(o.Store)
	if err == nil {
		err = s.accepts(o.Kind)
	}
	if err == nil {
		err = op.CheckKey(o.Store, o.Key)
	}
	if err == nil && o.Kind == op.Insert {
		err = op.CheckValues(n.cfg.MaxValueBytes, o.Values)
	}
	if err != nil {
		return nil, err
	}
	return s.eng, nil
}

func (n *Node) store(name string) (*store, error) {
	s, ok := n.stores[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownStore, name)
	}
	return s, nil
}
