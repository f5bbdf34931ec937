package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/ring"
	"github.com/hoard-dev/hoard/transport"
)

// errNotSent marks an op that never left this node: routing it again cannot
// apply it twice.
var errNotSent = errors.New("node: op not sent")

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
	n      *Node
	owner  ring.Member
	logger hclog.Logger

	// mu guards queue and stopped.
	mu      sync.Mutex
	queue   []*op
	stopped bool

	wake chan struct{} // capacity 1
}

// forwarder returns the running forwarder for owner, starting one if
// needed. Errors: ErrShutdown.
func (n *Node) forwarder(owner ring.Member) (*forwarder, error) {
	n.fwdMu.Lock()
	defer n.fwdMu.Unlock()
	if f, ok := n.fwds[owner.Addr]; ok {
		return f, nil
	}
	if n.fwds == nil {
		return nil, ErrShutdown
	}
	f := &forwarder{n: n, owner: owner, logger: n.logger.With("peer", owner.Name), wake: make(chan struct{}, 1)}
	if !n.goFunc(f.loop) {
		return nil, ErrShutdown
	}
	n.fwds[owner.Addr] = f
	return f, nil
}

// enqueue queues o for its owner. It never blocks.
func (f *forwarder) enqueue(o *op) {
	f.mu.Lock()
	if f.stopped {
		f.mu.Unlock()
		f.n.forwarded(o, opResult{err: errNotSent})
		return
	}
	f.queue = append(f.queue, o)
	f.mu.Unlock()
	f.n.forwards.Add(1)
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *forwarder) loop() {
	var spare []*op
	for {
		select {
		case <-f.wake:
		case <-f.n.stopCh:
			f.mu.Lock()
			f.stopped = true
			ops := f.queue
			f.queue = nil
			f.mu.Unlock()
			for _, o := range ops {
				o.done(opResult{err: ErrShutdown})
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
func (f *forwarder) send(ops []*op) {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	conn, err := f.n.pool.Get(ctx, f.owner.Addr)
	cancel()
	if err != nil {
		err = fmt.Errorf("%w: connect to %s at %s: %w", errNotSent, f.owner.Name, f.owner.Addr, err)
		for _, o := range ops {
			f.n.forwarded(o, opResult{err: err})
		}
		return
	}
	for len(ops) > 0 {
		// Writes and reads never share a frame: the owner answers a frame
		// once all its ops are done, and a read may wait on a slow load
		// (or, for a dump, be large), which must not hold writes back past
		// their deadline. A dump goes alone.
		n, size := 0, 0
		class := frameClass(ops[0].kind)
		for n < len(ops) && n < maxForwardOps && (n == 0 || size+ops[n].wireSize() <= maxForwardBytes) {
			if n > 0 && (frameClass(ops[n].kind) != class || class == classDump) {
				break
			}
			size += ops[n].wireSize()
			n++
		}
		f.sendChunk(conn, slices.Clone(ops[:n]))
		ops = ops[n:]
	}
}

// Frame classes: ops of different classes go in different frames.
const (
	classWrite = iota
	classRead
	classDump
)

func frameClass(kind uint8) int {
	switch kind {
	case proto.OpIncr, proto.OpInsert, proto.OpSet, proto.OpDelete:
		return classWrite
	case proto.OpDump:
		return classDump
	}
	return classRead
}

// wireSize estimates the bytes o takes in a forwarded frame.
func (o *op) wireSize() int {
	size := 16 + len(o.store.cfg.Name) + len(o.key)
	for _, v := range o.values {
		size += 5 + len(v)
	}
	return size
}

func (f *forwarder) sendChunk(conn *transport.Conn, chunk []*op) {
	req := proto.ForwardRequest{Ops: make([]proto.Op, len(chunk))}
	var deadline time.Time
	for i, o := range chunk {
		req.Ops[i] = proto.Op{Kind: o.kind, Store: o.store.cfg.Name, Key: o.key, Delta: o.delta, Values: o.values}
		if o.deadline.After(deadline) {
			deadline = o.deadline
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
				err = fmt.Errorf("%w: forwarding to %s: %w", ErrIndeterminate, f.owner.Name, err)
			}
			for _, o := range chunk {
				f.n.forwarded(o, opResult{err: err})
			}
			return
		}
		for i, o := range chunk {
			r := resp.Results[i]
			f.n.forwarded(o, opResult{count: r.Count, values: r.Values, err: errorOf(r.Code, r.Message)})
		}
	})
}

// errorCodes maps the node's sentinel errors to their wire codes, both
// ways. The first match wins.
var errorCodes = []struct {
	err  error
	code string
}{
	{ErrNotOwner, proto.CodeNotOwner},
	{ErrUnknownStore, proto.CodeUnknownStore},
	{ErrWrongKind, proto.CodeWrongKind},
	{ErrOverflow, proto.CodeOverflow},
	{ErrOverloaded, proto.CodeOverloaded},
	{ErrInvalidKey, proto.CodeInvalid},
	{ErrInvalidValue, proto.CodeInvalidValue},
	{ErrShutdown, proto.CodeShuttingDown},
	{ErrNoRing, proto.CodeNoRing},
	{ErrUnavailable, proto.CodeUnavailable},
	{ErrIndeterminate, proto.CodeIndeterminate},
	{ErrLoadFailed, proto.CodeLoadFailed},
}

// codeOf is the wire code of an op error.
func codeOf(err error) string {
	for _, ec := range errorCodes {
		if errors.Is(err, ec.err) {
			return ec.code
		}
	}
	return transport.CodeInternal
}

// errorOf turns a wire code back into the node's sentinel error. An owner
// that is shutting down did not apply the op, which can go to the next
// owner, like one refused by a node that is not the owner.
func errorOf(code, msg string) error {
	switch code {
	case "":
		return nil
	case proto.CodeShuttingDown:
		return fmt.Errorf("%w: %w: %s", ErrNotOwner, ErrShutdown, msg)
	}
	for _, ec := range errorCodes {
		if ec.code == code {
			// The message usually starts with the sentinel's own text already.
			return fmt.Errorf("%w%s", ec.err, strings.TrimPrefix(msg, ec.err.Error()))
		}
	}
	return &transport.Error{Code: code, Message: msg}
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
		f.n.forwarded(o, opResult{err: errNotSent})
	}
	select {
	case f.wake <- struct{}{}:
	default:
	}
}
