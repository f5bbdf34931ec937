package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/ring"
)

// asyncInterval is how often async increments aggregated on a node are sent
// on to their owners.
const asyncInterval = 50 * time.Millisecond

// asyncShards spreads the aggregation map over locks.
const asyncShards = 64

// asyncAgg pre-aggregates fire-and-forget increments on the node that
// received them (StatBuffer's async_increment): many increments of one key
// become one op to its owner every asyncInterval.
type asyncAgg struct {
	shards [asyncShards]asyncShard
}

type asyncShard struct {
	// mu guards m and closed.
	mu     sync.Mutex
	m      map[asyncKey]int64
	closed bool // set by the final take: later increments are refused
}

type asyncKey struct {
	store *store
	key   string
}

// add folds delta into the pending sum of key. Errors: ErrOverflow when
// the pending sum would overflow.
func (a *asyncAgg) add(s *store, key string, delta int64) error {
	sh := &a.shards[ring.PartitionOf(asyncShards, s.cfg.Name, key)]
	k := asyncKey{s, key}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return ErrShutdown
	}
	sum, ok := addInt64(sh.m[k], delta)
	if !ok {
		return fmt.Errorf("%w: pending async increments of %q would overflow", ErrOverflow, key)
	}
	if sh.m == nil {
		sh.m = make(map[asyncKey]int64)
	}
	sh.m[k] = sum
	return nil
}

// take swaps every shard's map out. A final take closes the shards.
func (a *asyncAgg) take(final bool) map[asyncKey]int64 {
	out := map[asyncKey]int64{}
	for i := range a.shards {
		sh := &a.shards[i]
		sh.mu.Lock()
		m := sh.m
		sh.m = nil
		sh.closed = sh.closed || final
		sh.mu.Unlock()
		for k, v := range m {
			out[k] += v
		}
	}
	return out
}

// IncrAsync adds delta to key of a counter store without waiting for the
// owner (StatBuffer's async_increment). The increment is aggregated on this
// node with others to the same key and sent to the owner within about 50ms.
// It is acknowledged once held in this node's memory, so it is lost if this
// node crashes before sending it on. If the owner cannot take it, it is kept
// and sent again; a graceful Leave or Shutdown sends what is pending first.
// Errors: ErrUnknownStore, ErrWrongKind, ErrInvalidKey, ErrOverflow,
// ErrShutdown.
func (n *Node) IncrAsync(store, key string, delta int64) error {
	o, err := n.newOp(proto.OpIncr, store, key, delta)
	if err != nil {
		return err
	}
	return n.async.add(o.store, o.key, o.delta)
}

// asyncLoop sends aggregated async increments on every asyncInterval.
func (n *Node) asyncLoop(ctx context.Context) {
	t := time.NewTimer(asyncInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		n.sendAsync(ctx, false)
		t.Reset(asyncInterval/2 + rand.N(asyncInterval))
	}
}

// sendAsync routes every pending async sum to its owner and waits for the
// outcomes, or for ctx to end. A sum that could not be applied is put back
// for the next round. A final round closes the aggregator first.
func (n *Node) sendAsync(ctx context.Context, final bool) {
	pending := n.async.take(final)
	if len(pending) == 0 {
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex // guards failed, lost, firstErr
	var failed, lost int
	var firstErr error
	deadline := time.Now().Add(defaultOpTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	for k, delta := range pending {
		wg.Add(1)
		o := &op{kind: proto.OpIncr, store: k.store, key: k.key, delta: delta, deadline: deadline, cancel: ctx.Done()}
		o.done = func(r opResult) {
			defer wg.Done()
			if r.err == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if firstErr == nil {
				firstErr = r.err
			}
			// An op whose outcome is unknown may have been applied: sending
			// it again could count it twice, so it is reported, not retried.
			if errors.Is(r.err, ErrIndeterminate) {
				lost++
				n.logger.Error("async increment may not have been applied", "store", k.store.cfg.Name, "key", k.key, "delta", delta, "error", r.err)
				return
			}
			if err := n.async.putBack(k, delta); err != nil {
				lost++
				n.logger.Error("async increment lost", "store", k.store.cfg.Name, "key", k.key, "delta", delta, "error", err)
				return
			}
			failed++
		}
		n.route(o)
	}
	wg.Wait()
	if failed > 0 {
		n.logger.Warn("async increments not applied yet; kept for the next round", "keys", failed, "error", firstErr)
	}
	n.asyncLost.Add(int64(lost))
}

// putBack returns an unsent sum to the aggregator, even once it is closed:
// the node's stop drains it after.
func (a *asyncAgg) putBack(k asyncKey, delta int64) error {
	sh := &a.shards[ring.PartitionOf(asyncShards, k.store.cfg.Name, k.key)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sum, ok := addInt64(sh.m[k], delta)
	if !ok {
		return fmt.Errorf("%w: pending async increments of %q would overflow", ErrOverflow, k.key)
	}
	if sh.m == nil {
		sh.m = make(map[asyncKey]int64)
	}
	sh.m[k] = sum
	return nil
}

// drainAsync runs when the node stops: a last round sends the pending
// sums to their owners within ctx, and what could still not be sent is
// added to this node's own counters, which the final flush then delivers:
// counter deltas merge, so it does not matter which node flushes them.
func (n *Node) drainAsync(ctx context.Context) error {
	n.sendAsync(ctx, true)
	var errs []error
	for k, delta := range n.async.take(true) {
		p := ring.PartitionOf(n.cfg.Ring.Partitions, k.store.cfg.Name, k.key)
		if err := k.store.counters.add(p, k.key, delta); err != nil {
			n.asyncLost.Add(1)
			n.logger.Error("async increment lost", "store", k.store.cfg.Name, "key", k.key, "delta", delta, "error", err)
			errs = append(errs, fmt.Errorf("async increment of %q lost: %w", k.key, err))
			continue
		}
		n.exposed.Add(1)
	}
	return errors.Join(errs...)
}

// pending counts the sums waiting to be sent.
func (a *asyncAgg) pending() int {
	n := 0
	for i := range a.shards {
		sh := &a.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
