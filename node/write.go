package node

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/internal/route"
	"github.com/hoard-dev/hoard/internal/stores"
)

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
	_, err := n.do(ctx, op.Op{Kind: op.Insert, Store: store, Key: key, Values: op.CopyValues(values)})
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
// loader (DataWorker's direct_set), with no expiry. The value is copied.
func (n *Node) Set(ctx context.Context, store, key string, value []byte) error {
	return n.SetTTL(ctx, store, key, value, 0)
}

// SetTTL is Set with an expiry (Redis's SET EX): the entry expires ttl
// after the owner stores it, however often it is read or refreshed
// meanwhile; then reads miss and load again. It moves with its partition
// to a new owner and survives a restart through the dump. Zero: no
// expiry. The value is copied. Errors: those of Set, and ErrInvalidValue
// for a negative ttl.
func (n *Node) SetTTL(ctx context.Context, store, key string, value []byte, ttl time.Duration) error {
	_, err := n.do(ctx, op.Op{Kind: op.Set, Store: store, Key: key, Values: [][]byte{bytes.Clone(value)}, TTL: ttl})
	return err
}

// Delete removes key from a cache store at its owner; it reports whether
// there was an entry.
func (n *Node) Delete(ctx context.Context, store, key string) (bool, error) {
	r, err := n.do(ctx, op.Op{Kind: op.Delete, Store: store, Key: key})
	return r.Deleted, err
}

// do checks o, runs it and waits for its result. o's values are its own:
// Insert and Set copy the caller's.
func (n *Node) do(ctx context.Context, o op.Op) (op.Result, error) {
	ch := make(chan op.Result, 1)
	write := o.Kind.Spec().Write
	dl, _ := ctx.Deadline() // zero: the router's OpTimeout
	if r, ok := n.start(&o, dl, func(r op.Result) { ch <- r }); ok {
		return r, r.Err
	}
	select {
	case r := <-ch:
		return r, r.Err
	case <-ctx.Done():
		if write {
			// The op is on its way and may still be applied.
			return op.Result{}, fmt.Errorf("%w: %w", ErrIndeterminate, ctx.Err())
		}
		return op.Result{}, ctx.Err()
	}
}

// start checks o and runs it (route.Router.Start): it returns the result
// and true when o is done at once, and otherwise false, done then getting
// the result. o is the caller's, unchanged until it is done. A zero
// deadline is the router's OpTimeout.
func (n *Node) start(o *op.Op, deadline time.Time, done func(op.Result)) (op.Result, bool) {
	s, err := n.checkOp(o)
	if err != nil {
		return op.Failed(err), true
	}
	return n.router.Start(o, s.Engine, deadline, done)
}

// checkOp checks o for this node to run (see validate), refusing it once
// the node stops (ErrShutdown).
func (n *Node) checkOp(o *op.Op) (*stores.Store, error) {
	if n.refusing() {
		return nil, ErrShutdown
	}
	return n.validate(o)
}

// validate checks o's store and kind, and o itself (op.Op.Check), and
// returns its store. Errors: ErrUnknownStore, ErrWrongKind, ErrInvalidKey,
// ErrInvalidValue.
func (n *Node) validate(o *op.Op) (*stores.Store, error) {
	s, err := n.stores.Get(o.Store)
	if err == nil {
		err = s.Accepts(o.Kind)
	}
	if err == nil {
		err = o.Check(n.cfg.MaxValueBytes)
	}
	return s, err
}

// resolve checks an op a peer forwarded and returns the store applying it.
func (n *Node) resolve(o *op.Op) (route.Applier, error) {
	s, err := n.validate(o)
	if err != nil {
		return nil, err
	}
	return s.Engine, nil
}
