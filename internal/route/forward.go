package route

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/ring"
	"github.com/hoard-dev/hoard/transport"
)

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
			f.mu.Lock()
			f.stopped = true
			ops := f.queue
			f.queue = nil
			f.mu.Unlock()
			for _, o := range ops {
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
		for n < len(ops) && n < maxForwardOps && (n == 0 || size+wireSize(&ops[n].Op) <= maxForwardBytes) {
			if n > 0 && (ops[n].Kind.Spec().Class != class || class == op.ClassDump) {
				break
			}
			size += wireSize(&ops[n].Op)
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
	f.mu.Lock()
	f.stopped = true
	ops := f.queue
	f.queue = nil
	f.mu.Unlock()
	for _, o := range ops {
		f.r.forwarded(o, op.Failed(errNotSent))
	}
	select {
	case f.wake <- struct{}{}:
	default:
	}
}
