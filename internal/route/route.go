// Package route carries ops to their key's owner: it applies an op here
// when this node owns the key, forwards it otherwise over one pooled
// connection per peer (ops queued meanwhile share one frame), routes again
// what an owner refused or what could not be sent (on a ring change or
// after a backoff, until the op's deadline), and applies the ops peers
// forward to this node. A forwarded op is never forwarded again (hop limit
// 1): a node that does not own it answers errs.ErrNotOwner.
//
//	r := route.New(route.Config{Name: "n1", Ring: c.Ring, Watch: c.Watch, Pool: pool, ...})
//	go r.Run()
//	r.Route(&route.Call{Op: o, Target: eng, Deadline: dl, Done: func(res op.Result) { ... }})
package route

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/ring"
	"github.com/hoard-dev/hoard/transport"
)

// errNotSent marks an op that never left this node: routing it again cannot
// apply it twice.
var errNotSent = errors.New("route: op not sent")

// Applier applies ops to one store's state on this node (a store kind's
// engine).
type Applier interface {
	// Apply runs o on partition p. It returns the result and true when the
	// op is done at once; otherwise it returns false and, unless done is
	// nil, calls done exactly once when the op is done.
	Apply(o *op.Op, p int, done func(op.Result)) (op.Result, bool)
}

// Config configures a Router.
type Config struct {
	// Name is this node's name in the ring.
	Name string
	// Ring returns the current ring; nil when the node has none.
	Ring func() *ring.Snapshot
	// Watch returns the current ring and a channel closed at its next
	// change.
	Watch func() (*ring.Snapshot, <-chan struct{})
	// Pool dials peers.
	Pool *transport.Pool
	// Resolve checks an op forwarded by a peer (its store, kind, key and
	// values) and returns the store that applies it here.
	Resolve func(o *op.Op) (Applier, error)
	// Refusing reports whether the node refuses new ops (it is stopping).
	Refusing func() bool
	// Go runs f on a goroutine the node waits for on shutdown; false once
	// it is stopping.
	Go func(f func()) bool
	// Stop is closed when the node's background work must end.
	Stop <-chan struct{}
	// OpTimeout bounds the retries of a call without a deadline; zero:
	// DefaultOpTimeout.
	OpTimeout time.Duration
	// Logger receives the router's logs.
	Logger hclog.Logger
}

// DefaultOpTimeout bounds the retries of a call without a deadline.
const DefaultOpTimeout = 30 * time.Second

// Router routes ops. Create it with New, run its retry loop with Run.
type Router struct {
	cfg     Config
	retries *retryQueue

	forwards atomic.Int64 // ops forwarded to their owner
	rerouted atomic.Int64 // forwarded ops refused as not the owner, routed again

	// mu guards fwds; nil once stopped.
	mu   sync.Mutex
	fwds map[string]*forwarder // by owner RPC address
}

// New returns a router.
func New(cfg Config) *Router {
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = DefaultOpTimeout
	}
	r := &Router{cfg: cfg, fwds: make(map[string]*forwarder)}
	r.retries = &retryQueue{r: r, wake: make(chan struct{}, 1)}
	return r
}

// Call is an op on its way to its key's owner.
type Call struct {
	op.Op
	// Target applies the op if this node owns the key.
	Target Applier
	// Deadline bounds the retries; zero: Ctx's deadline, or else
	// Config.OpTimeout from when it is forwarded.
	Deadline time.Time
	// Ctx, when it ends, stops the retries (nil: never).
	Ctx context.Context
	// Done receives the outcome, exactly once.
	Done func(op.Result)

	ringVer uint64 // version of the ring that routed it last
	attempt int
}

func ctxDeadline(ctx context.Context) (time.Time, bool) {
	if ctx == nil {
		return time.Time{}, false
	}
	return ctx.Deadline()
}

// Forwarded counts the ops this node sent on to their owner.
func (r *Router) Forwarded() int64 { return r.forwards.Load() }

// Rerouted counts the forwarded ops an owner refused because its ring
// differed, which this node then routed again.
func (r *Router) Rerouted() int64 { return r.rerouted.Load() }

// Start routes o as Route does. When target applies it here at once (a
// write acknowledged in memory, a hit) Start returns its result and true,
// and done is not called: most ops end so, with no callback. Otherwise
// (a write waiting for its log, a cache load, an op forwarded to its
// owner) Start returns false and done gets the outcome later, maybe before
// Start returns, on another goroutine. An op applied here needs no Call,
// and is not copied: o is the caller's, which must leave it unchanged
// until it is done (target must not use it after that); a forwarded op is
// copied into its Call.
func (r *Router) Start(o *op.Op, target Applier, deadline time.Time, done func(op.Result)) (op.Result, bool) {
	if p, mine := r.Local(o.Store, o.Key); mine {
		return target.Apply(o, p, done)
	}
	r.Route(&Call{Op: *o, Target: target, Deadline: deadline, Done: done})
	return op.Result{}, false
}

// Local returns the partition of store's key and whether this node owns
// it, in the ring it routes by.
func (r *Router) Local(store, key string) (int, bool) {
	snap := r.cfg.Ring()
	if snap == nil {
		return 0, false
	}
	p, owner := snap.Locate(store, key)
	return p, owner.Name == r.cfg.Name
}

// Route applies c here if this node owns its key, else hands it to the
// owner's forwarder. It never blocks.
func (r *Router) Route(c *Call) {
	snap := r.cfg.Ring()
	if snap == nil {
		c.Done(op.Failed(errs.ErrNoRing))
		return
	}
	p, owner := snap.Locate(c.Store, c.Key)
	c.ringVer = snap.Version()
	if owner.Name == r.cfg.Name {
		if res, ok := c.Target.Apply(&c.Op, p, c.Done); ok {
			c.Done(res)
		}
		return
	}
	f, err := r.forwarder(owner)
	if err != nil {
		c.Done(op.Failed(err))
		return
	}
	if c.Deadline.IsZero() {
		c.Deadline = time.Now().Add(r.cfg.OpTimeout)
		if dl, ok := ctxDeadline(c.Ctx); ok {
			c.Deadline = dl
		}
	}
	f.enqueue(c)
}

// forwarded handles the outcome of a call sent to its owner: one that was
// refused (not the owner) or never sent is routed again, at once if the
// ring changed meanwhile, else by the retry queue, until its deadline.
func (r *Router) forwarded(c *Call, res op.Result) {
	retryable := errors.Is(res.Err, errs.ErrNotOwner) || errors.Is(res.Err, errNotSent)
	if errors.Is(res.Err, transport.ErrFrameTooLarge) {
		retryable = false // it will not fit next time either
	}
	if !retryable {
		c.Done(res)
		return
	}
	// While the node stops, ops it is still draining (async sums) keep
	// their retries until the background work ends.
	if time.Now().After(c.Deadline) || closed(r.cfg.Stop) || (c.Ctx != nil && c.Ctx.Err() != nil) {
		if errors.Is(res.Err, errNotSent) {
			res.Err = fmt.Errorf("%w: %w", errs.ErrUnavailable, res.Err)
		}
		c.Done(res)
		return
	}
	if errors.Is(res.Err, errs.ErrNotOwner) {
		r.rerouted.Add(1)
	}
	if snap := r.cfg.Ring(); snap != nil && snap.Version() != c.ringVer {
		r.Route(c) // the ring moved on since c was routed: try the new owner now
		return
	}
	r.retries.add(c)
}

// closed reports whether ch is closed.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// ApplyForwarded applies ops a peer forwarded to this node as their owner
// and calls reply once with one result per op, in order. An op for a
// partition this node does not own is refused with errs.ErrNotOwner:
// forwarded ops are never forwarded again.
func (r *Router) ApplyForwarded(ops []proto.Op, reply func([]proto.OpResult)) {
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
	snap := r.cfg.Ring()
	refusing := r.cfg.Refusing()
	for i := range ops {
		o, err := fromWire(&ops[i])
		var target Applier
		switch {
		case refusing:
			err = errs.ErrShutdown
		case snap == nil:
			err = errs.ErrNoRing
		case err == nil:
			target, err = r.cfg.Resolve(o)
		}
		var p int
		if err == nil {
			p = snap.Partition(o.Store, o.Key)
			if !snap.Owns(r.cfg.Name, p) {
				err = fmt.Errorf("%w: %s does not own partition %d in ring version %d", errs.ErrNotOwner, r.cfg.Name, p, snap.Version())
			}
		}
		if err != nil {
			out[i] = resultToWire(o.Kind, op.Failed(err))
			pending.Add(-1)
			continue
		}
		// Counter and buffer ops, and cache hits, finish here; a miss
		// answers later, once loaded.
		res, now := target.Apply(o, p, func(res op.Result) {
			out[i] = resultToWire(o.Kind, res)
			finish()
		})
		if now {
			out[i] = resultToWire(o.Kind, res)
			pending.Add(-1)
		}
	}
	finish()
}

// Prune stops the forwarders of members that left the ring: their queued
// ops are routed again, to their new owners.
func (r *Router) Prune(snap *ring.Snapshot) {
	live := map[string]bool{}
	for _, m := range snap.Members() {
		live[m.Addr] = true
	}
	r.mu.Lock()
	var gone []*forwarder
	for addr, f := range r.fwds {
		if !live[addr] {
			gone = append(gone, f)
			delete(r.fwds, addr)
		}
	}
	r.mu.Unlock()
	for _, f := range gone {
		f.retire()
	}
}

// Close refuses new forwarders; the running ones end when Stop closes.
func (r *Router) Close() {
	r.mu.Lock()
	r.fwds = nil
	r.mu.Unlock()
}

const (
	// maxForwardOps and maxForwardBytes bound one forwarded frame, well
	// under the transport's frame limit.
	maxForwardOps   = 1024
	maxForwardBytes = 4 << 20

	// dialTimeout bounds connecting to a peer.
	dialTimeout = 5 * time.Second
)

// forwarder sends ops to one owner. Ops queue while a frame is being sent
// and go out together in the next one, so under load there is one frame and
// one syscall for many ops, not one per op. Ops are sent in the order they
// were queued, which keeps one sender's ops to one key in order.
type forwarder struct {
	r      *Router
	owner  ring.Member
	logger hclog.Logger

	// mu guards queue and stopped.
	mu      sync.Mutex
	queue   []*Call
	stopped bool

	wake chan struct{} // capacity 1
}

// forwarder returns the running forwarder for owner, starting one if
// needed. Errors: errs.ErrShutdown.
func (r *Router) forwarder(owner ring.Member) (*forwarder, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.fwds[owner.Addr]; ok {
		return f, nil
	}
	if r.fwds == nil {
		return nil, errs.ErrShutdown
	}
	f := &forwarder{r: r, owner: owner, logger: r.cfg.Logger.With("peer", owner.Name), wake: make(chan struct{}, 1)}
	if !r.cfg.Go(f.loop) {
		return nil, errs.ErrShutdown
	}
	r.fwds[owner.Addr] = f
	return f, nil
}

// enqueue queues o for its owner. It never blocks.
func (f *forwarder) enqueue(o *Call) {
	f.mu.Lock()
	if f.stopped {
		f.mu.Unlock()
		f.r.forwarded(o, op.Failed(errNotSent))
		return
	}
	f.queue = append(f.queue, o)
	f.mu.Unlock()
	f.r.forwards.Add(1)
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *forwarder) loop() {
	var spare []*Call
	for {
		select {
		case <-f.wake:
		case <-f.r.cfg.Stop:
			for _, o := range f.close() {
				o.Done(op.Failed(errs.ErrShutdown))
			}
			return
		}
		f.mu.Lock()
		if f.stopped {
			f.mu.Unlock()
			return // retired; retire re-routed the queue
		}
		ops := f.queue
		f.queue = spare[:0]
		f.mu.Unlock()
		if len(ops) == 0 {
			spare = ops
			continue
		}
		f.send(ops)
		clear(ops)
		spare = ops
	}
}

// send forwards ops, in frames of at most maxForwardOps.
func (f *forwarder) send(ops []*Call) {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	conn, err := f.r.cfg.Pool.Get(ctx, f.owner.Addr)
	cancel()
	if err != nil {
		err = fmt.Errorf("%w: connect to %s at %s: %w", errNotSent, f.owner.Name, f.owner.Addr, err)
		for _, o := range ops {
			f.r.forwarded(o, op.Failed(err))
		}
		return
	}
	for len(ops) > 0 {
		// Writes and reads never share a frame: the owner answers a frame
		// once all its ops are done, and a read may wait on a slow load
		// (or, for a dump, be large), which must not hold writes back past
		// their deadline. A dump goes alone.
		n, size := 0, 0
		class := ops[0].Kind.Spec().Class
		for n < len(ops) && n < maxForwardOps {
			next := wireSize(&ops[n].Op)
			if n > 0 && (size+next > maxForwardBytes || ops[n].Kind.Spec().Class != class || class == op.ClassDump) {
				break
			}
			size += next
			n++
		}
		f.sendChunk(conn, slices.Clone(ops[:n]))
		ops = ops[n:]
	}
}

func (f *forwarder) sendChunk(conn *transport.Conn, chunk []*Call) {
	req := proto.ForwardRequest{Ops: make([]proto.Op, len(chunk))}
	var deadline time.Time
	for i, o := range chunk {
		req.Ops[i] = toWire(&o.Op)
		if o.Deadline.After(deadline) {
			deadline = o.Deadline
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	resp := new(proto.ForwardResponse)
	conn.Go(ctx, proto.MethodForward, transport.FlagForwarded, &req, resp, func(err error) {
		if err == nil && len(resp.Results) != len(chunk) {
			err = fmt.Errorf("%s answered %d results for %d ops", f.owner.Name, len(resp.Results), len(chunk))
		}
		if err != nil {
			if errors.Is(err, transport.ErrNotSent) {
				err = fmt.Errorf("%w: %w", errNotSent, err)
			} else {
				err = fmt.Errorf("%w: forwarding to %s: %w", errs.ErrIndeterminate, f.owner.Name, err)
			}
			for _, o := range chunk {
				f.r.forwarded(o, op.Failed(err))
			}
			return
		}
		for i, o := range chunk {
			f.r.forwarded(o, resultFromWire(o.Kind, resp.Results[i]))
		}
	})
}

// retire stops a forwarder whose owner left the ring: its queued ops are
// routed again, to their new owners.
func (f *forwarder) retire() {
	for _, o := range f.close() {
		f.r.forwarded(o, op.Failed(errNotSent))
	}
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// close stops the forwarder from queueing and returns what it held.
func (f *forwarder) close() []*Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = true
	ops := f.queue
	f.queue = nil
	return ops
}
