package node

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/hoard-dev/hoard/internal/counter"
	"github.com/hoard-dev/hoard/internal/flush"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/internal/route"
	"github.com/hoard-dev/hoard/internal/stores"
	"github.com/hoard-dev/hoard/ring"
)

// asyncInterval is how often async increments aggregated on a node are sent
// on to their owners.
const asyncInterval = 50 * time.Millisecond

// IncrAsync adds delta to key of a counter store without waiting for the
// owner (StatBuffer's async_increment). The increment is aggregated on this
// node with others to the same key and sent to the owner within about 50ms.
// It is acknowledged once held in this node's memory, so it is lost if this
// node crashes before sending it on. If the owner cannot take it, it is kept
// and sent again; a graceful Leave or Shutdown sends what is pending first.
// Errors: ErrUnknownStore, ErrWrongKind, ErrInvalidKey, ErrOverflow,
// ErrShutdown.
func (n *Node) IncrAsync(store, key string, delta int64) error {
	if _, err := n.checkOp(&op.Op{Kind: op.Incr, Store: store, Key: key}); err != nil {
		return err
	}
	return n.async.Add(store, key, delta)
}

// asyncLoop sends aggregated async increments on every asyncInterval.
func (n *Node) asyncLoop(ctx context.Context) {
	next := func() time.Duration { return asyncInterval/2 + rand.N(asyncInterval) }
	flush.Every(ctx, next, nil, func() { n.sendAsync(ctx, false) })
}

// sendAsync routes every pending async sum to its owner and waits for the
// outcomes, or for ctx to end (see counter.Aggregator.Send).
func (n *Node) sendAsync(ctx context.Context, final bool) {
	lost := n.async.Send(final, func(sum counter.Sum, done func(error)) {
		n.router.Route(&route.Call{
			Op:     op.Op{Kind: op.Incr, Store: sum.Store, Key: sum.Key, Delta: sum.Delta},
			Target: n.engine(sum.Store),
			Ctx:    ctx,
			Done:   func(r op.Result) { done(r.Err) },
		})
	}, n.logger)
	n.asyncLost.Add(int64(lost))
}

// drainAsync runs when the node stops: a last round sends the pending
// sums to their owners within ctx, and what could still not be sent is
// added to this node's own counters, which the final flush then delivers.
func (n *Node) drainAsync(ctx context.Context) error {
	n.sendAsync(ctx, true)
	lost, err := n.async.Drain(func(sum counter.Sum) error {
		o := op.Op{Kind: op.Incr, Store: sum.Store, Key: sum.Key, Delta: sum.Delta}
		// A store with a journal acknowledges later, through done.
		r, _ := n.engine(sum.Store).Apply(&o, ring.PartitionOf(n.cfg.Ring.Partitions, sum.Store, sum.Key), func(op.Result) {})
		return r.Err
	}, n.logger)
	n.asyncLost.Add(int64(lost))
	return err
}

// engine returns the engine of a store the sums name: a declared one, as
// their increments were checked when they arrived.
func (n *Node) engine(store string) stores.Engine {
	s, _ := n.stores.Get(store)
	return s.Engine
}
