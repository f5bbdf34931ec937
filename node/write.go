package node

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/transport"
)

var (
	// ErrNotOwner is returned by a node asked to apply an op for a partition
	// it does not own in its current ring. Nothing was applied. Nodes retry
	// such ops themselves on their newer ring; callers see it only when the
	// rings did not agree before their deadline.
	ErrNotOwner = errors.New("node: not the owner")

	// ErrUnavailable is returned when the key's owner could not be reached
	// before the deadline. Nothing was applied.
	ErrUnavailable = errors.New("node: owner unavailable")

	// ErrIndeterminate is returned when the connection to the owner broke
	// after the op was sent: it may or may not have been applied. Retrying
	// an increment may count it twice.
	ErrIndeterminate = errors.New("node: outcome unknown")

	// ErrInvalidValue is returned for an insert of no values, of a value over
	// Config.MaxValueBytes, or of more than 8 MiB in one call.
	ErrInvalidValue = errors.New("node: invalid value")
)

// defaultOpTimeout bounds an op whose context has no deadline.
const defaultOpTimeout = 30 * time.Second

// op is one write or read on its way to the key's owner.
type op struct {
	kind     uint8 // proto.OpIncr, OpCount, OpInsert, OpSize, OpDump
	store    *store
	key      string
	delta    int64
	values   [][]byte
	deadline time.Time
	attempt  int
	ringVer  uint64          // version of the ring that routed it last
	cancel   <-chan struct{} // when closed, stop retrying (nil: never)
	done     func(opResult)  // called exactly once
}

type opResult struct {
	count  int64
	values [][]byte
	err    error
}

// Incr adds delta to key of a counter store. It returns once the owner has
// applied it (acknowledged in the owner's memory). Errors: ErrUnknownStore,
// ErrWrongKind, ErrInvalidKey, ErrOverflow, ErrUnavailable, ErrIndeterminate,
// ErrNotOwner (rings did not agree in time), ErrShutdown, or the context's
// error.
func (n *Node) Incr(ctx context.Context, store, key string, delta int64) error {
	_, err := n.do(ctx, &op{kind: proto.OpIncr, delta: delta}, store, key)
	return err
}

// Count returns the owner's unflushed delta for key of a counter store: 0
// when it holds none. Async increments still being aggregated on other
// nodes are not included.
func (n *Node) Count(ctx context.Context, store, key string) (int64, error) {
	r, err := n.do(ctx, &op{kind: proto.OpCount}, store, key)
	return r.count, err
}

// Insert appends values, in order, to key of a buffer store (DataBuffer's
// insert and insert_batch). It returns once the owner holds them. The
// values are copied. Values sent by one caller to one key reach the sink in
// the order they were inserted. Errors: those of Incr, and ErrOverloaded
// when the owner holds its max_bytes for the store: back off and retry.
func (n *Node) Insert(ctx context.Context, store, key string, values ...[]byte) error {
	if err := n.checkValues(values); err != nil {
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
	_, err := n.do(ctx, &op{kind: proto.OpInsert, values: copies}, store, key)
	return err
}

// checkValues refuses an insert of no values, of a value over
// MaxValueBytes, or of more than maxInsertBytes in all.
func (n *Node) checkValues(values [][]byte) error {
	if len(values) == 0 {
		return fmt.Errorf("%w: no values to insert", ErrInvalidValue)
	}
	total := 0
	for _, v := range values {
		if len(v) > n.cfg.MaxValueBytes {
			return fmt.Errorf("%w: a value of %d bytes is over the %d-byte limit (max_value_bytes)", ErrInvalidValue, len(v), n.cfg.MaxValueBytes)
		}
		total += len(v)
	}
	if total > maxInsertBytes {
		return fmt.Errorf("%w: %d bytes in one insert, over the %d-byte limit per call: split it", ErrInvalidValue, total, maxInsertBytes)
	}
	return nil
}

// maxInsertBytes bounds the values of one insert, so that it always fits a
// frame when forwarded.
const maxInsertBytes = 8 << 20

// Size returns how many values key of a buffer store holds at its owner,
// not yet flushed.
func (n *Node) Size(ctx context.Context, store, key string) (int, error) {
	r, err := n.do(ctx, &op{kind: proto.OpSize}, store, key)
	return int(r.count), err
}

// Dump returns the values key of a buffer store holds at its owner, not yet
// flushed, oldest first, without removing them. The slices are the
// caller's to read, not to modify.
func (n *Node) Dump(ctx context.Context, store, key string) ([][]byte, error) {
	r, err := n.do(ctx, &op{kind: proto.OpDump}, store, key)
	return r.values, err
}

// do runs o, whose kind and arguments are set, on key of storeName and
// waits for its result. An op for a key this node owns is applied on the
// caller's goroutine.
func (n *Node) do(ctx context.Context, o *op, storeName, key string) (opResult, error) {
	s, err := n.checkOp(o.kind, storeName, key)
	if err != nil {
		return opResult{}, err
	}
	o.store, o.key = s, key
	if snap := n.cluster.Ring(); snap != nil {
		if p, owner := snap.Locate(storeName, key); owner.Name == n.cfg.Name {
			switch {
			case !isCacheOp(o.kind):
				r := n.apply(o, p)
				return r, r.err
			case o.kind == proto.OpGet || o.kind == proto.OpFetch:
				// A hit here needs no goroutine or channel. The value is the
				// cache's: Get and Fetch say callers must not modify it.
				if v, ok := s.caches.get(p, key); ok {
					return opResult{values: [][]byte{v}, count: proto.FlagFound}, nil
				}
			}
		}
	}
	o.deadline = deadlineOf(ctx)
	ch := make(chan opResult, 1)
	o.done = func(r opResult) { ch <- r }
	n.route(o)
	select {
	case r := <-ch:
		return r, r.err
	case <-ctx.Done():
		if o.kind == proto.OpIncr || o.kind == proto.OpInsert || o.kind == proto.OpSet || o.kind == proto.OpDelete {
			// The op is on its way and may still be applied.
			return opResult{}, fmt.Errorf("%w: %w", ErrIndeterminate, ctx.Err())
		}
		return opResult{}, ctx.Err()
	}
}

func deadlineOf(ctx context.Context) time.Time {
	if dl, ok := ctx.Deadline(); ok {
		return dl
	}
	return time.Now().Add(defaultOpTimeout)
}

// newOp validates an op's arguments and returns it, not yet routed.
func (n *Node) newOp(kind uint8, storeName, key string, delta int64) (*op, error) {
	s, err := n.checkOp(kind, storeName, key)
	if err != nil {
		return nil, err
	}
	return &op{kind: kind, store: s, key: key, delta: delta}, nil
}

// checkOp validates an op's arguments and returns its store.
func (n *Node) checkOp(kind uint8, storeName, key string) (*store, error) {
	if n.isStopping() {
		return nil, ErrShutdown
	}
	s, err := n.store(storeName)
	if err != nil {
		return nil, err
	}
	if err := s.accepts(kind); err != nil {
		return nil, err
	}
	if err := checkKey(storeName, key); err != nil {
		return nil, err
	}
	return s, nil
}

// accepts reports whether an op of kind fits the store's kind.
func (s *store) accepts(kind uint8) error {
	switch kind {
	case proto.OpIncr, proto.OpCount:
		if s.counters != nil {
			return nil
		}
	case proto.OpInsert, proto.OpSize, proto.OpDump:
		if s.buffers != nil {
			return nil
		}
	case proto.OpGet, proto.OpFetch, proto.OpSet, proto.OpDelete:
		if s.caches != nil {
			return nil
		}
	default:
		return fmt.Errorf("%w: unknown op kind %d", ErrWrongKind, kind)
	}
	return fmt.Errorf("%w: %q is a %s store", ErrWrongKind, s.cfg.Name, s.cfg.Kind)
}

func (n *Node) store(name string) (*store, error) {
	s, ok := n.stores[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownStore, name)
	}
	return s, nil
}

// route applies o here if this node owns its key, else hands it to the
// owner's forwarder. It never blocks.
func (n *Node) route(o *op) {
	snap := n.cluster.Ring()
	if snap == nil {
		o.done(opResult{err: ErrNoRing})
		return
	}
	p, owner := snap.Locate(o.store.cfg.Name, o.key)
	o.ringVer = snap.Version()
	if owner.Name == n.cfg.Name {
		n.applyAsync(o, p, o.done)
		return
	}
	f, err := n.forwarder(owner)
	if err != nil {
		o.done(opResult{err: err})
		return
	}
	f.enqueue(o)
}

// apply runs o on this node's data for partition p.
func (n *Node) apply(o *op, p int) opResult {
	if err := o.store.accepts(o.kind); err != nil {
		return opResult{err: err}
	}
	switch o.kind {
	case proto.OpIncr:
		// Counted as exposed before it is visible to a flush, so the count
		// never goes below what is held.
		n.exposed.Add(1)
		if err := o.store.counters.add(p, o.key, o.delta); err != nil {
			n.exposed.Add(-1)
			return opResult{err: err}
		}
	case proto.OpCount:
		return opResult{count: o.store.counters.get(p, o.key)}
	case proto.OpInsert:
		if len(o.values) == 0 {
			return opResult{err: fmt.Errorf("%w: no values to insert", ErrInvalidValue)}
		}
		n.exposed.Add(1)
		if err := o.store.buffers.add(p, o.key, o.values); err != nil {
			n.exposed.Add(-1)
			return opResult{err: err}
		}
	case proto.OpSize:
		return opResult{count: int64(o.store.buffers.size(p, o.key))}
	case proto.OpDump:
		return opResult{values: o.store.buffers.dump(p, o.key)}
	}
	return opResult{}
}

// forwarded handles the outcome of an op sent to its owner: an op that was
// refused (not the owner) or never sent is routed again once the ring
// changes or after a backoff, until its deadline.
func (n *Node) forwarded(o *op, r opResult) {
	retryable := errors.Is(r.err, ErrNotOwner) || errors.Is(r.err, errNotSent)
	if errors.Is(r.err, transport.ErrFrameTooLarge) {
		retryable = false // it will not fit next time either
	}
	if !retryable {
		o.done(r)
		return
	}

	// While the node stops, ops it is still draining (async sums) keep
	// their retries until the background work ends.
	if time.Now().After(o.deadline) || n.stopDone() || closed(o.cancel) {
		if errors.Is(r.err, errNotSent) {
			r.err = fmt.Errorf("%w: %w", ErrUnavailable, r.err)
		}
		o.done(r)
		return
	}
	if errors.Is(r.err, ErrNotOwner) {
		n.rerouted.Add(1)
	}
	snap, changed := n.cluster.Watch()
	if snap != nil && snap.Version() != o.ringVer {
		n.route(o) // the ring moved on since o was routed: try the new owner now
		return
	}
	o.attempt++
	backoff := min(time.Duration(1<<min(o.attempt, 10))*10*time.Millisecond, time.Second)
	if !n.goFunc(func() {
		t := time.NewTimer(min(backoff, time.Until(o.deadline)))
		defer t.Stop()
		select {
		case <-changed:
		case <-t.C:
		case <-n.stopCh:
		case <-o.cancel:
		}
		n.route(o)
	}) {
		o.done(opResult{err: ErrShutdown})
	}
}

// closed reports whether ch is closed; a nil ch never is.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// applyForwarded applies ops a peer forwarded to this node as their owner.
// An op for a partition this node does not own is refused with
// ErrNotOwner: forwarded ops are never forwarded again.
func (n *Node) applyForwarded(ops []proto.Op, reply func([]proto.OpResult)) {
	out := make([]proto.OpResult, len(ops))
	// pending counts the ops not answered yet, plus one for this loop: the
	// last to finish sends the reply. Cache misses finish later, after
	// their load.
	var pending atomic.Int64
	pending.Store(int64(len(ops)) + 1)
	finish := func() {
		if pending.Add(-1) == 0 {
			reply(out)
		}
	}
	snap := n.cluster.Ring()
	stopping := n.isStopping()
	record := func(i int, res opResult) {
		if res.err != nil {
			out[i].Code, out[i].Message = codeOf(res.err), res.err.Error()
		}
		out[i].Count, out[i].Values = res.count, res.values
	}
	for i := range ops {
		in := &ops[i]
		var err error
		var s *store
		switch {
		case stopping:
			err = ErrShutdown
		case snap == nil:
			err = ErrNoRing
		default:
			if s, err = n.store(in.Store); err == nil {
				err = checkKey(in.Store, in.Key)
			}
			if err == nil && in.Kind == proto.OpInsert {
				err = n.checkValues(in.Values)
			}
		}
		var p int
		if err == nil {
			p = snap.Partition(in.Store, in.Key)
			if !snap.Owns(n.cfg.Name, p) {
				err = fmt.Errorf("%w: %s does not own partition %d in ring version %d", ErrNotOwner, n.cfg.Name, p, snap.Version())
			}
		}
		switch {
		case err != nil:
			record(i, opResult{err: err})
			pending.Add(-1)
		case isCacheOp(in.Kind):
			// A miss answers later, once loaded.
			n.applyAsync(&op{kind: in.Kind, store: s, key: in.Key, delta: in.Delta, values: in.Values}, p, func(res opResult) {
				record(i, res)
				finish()
			})
		default:
			// Counter and buffer ops finish here, without a closure.
			o := op{kind: in.Kind, store: s, key: in.Key, delta: in.Delta, values: in.Values}
			record(i, n.apply(&o, p))
			pending.Add(-1)
		}
	}
	finish()
}

// applyAsync runs o on this node's data for partition p and calls done
// with the result: at once, or for a cache miss once the load finished.
func (n *Node) applyAsync(o *op, p int, done func(opResult)) {
	if isCacheOp(o.kind) {
		if err := o.store.accepts(o.kind); err != nil {
			done(opResult{err: err})
			return
		}
		n.cacheOp(o, p, done)
		return
	}
	done(n.apply(o, p))
}
