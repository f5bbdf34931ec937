package replica

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/ring"
	"github.com/hoard-dev/hoard/sinks"
	"github.com/hoard-dev/hoard/transport"
)

const (
	// maxFrameRecords and maxFrameBytes bound one replication frame, well
	// under the transport's frame limit.
	maxFrameRecords = 4096
	maxFrameBytes   = 4 << 20
	// callTimeout bounds one frame's round trip; a frame that times out is
	// sent again (the backup skips what it holds).
	callTimeout = 10 * time.Second
	// minBackoff and maxBackoff bound the wait before sending again to a
	// backup that failed.
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
)

// SenderConfig configures a Sender.
type SenderConfig struct {
	// Origin names the log of this incarnation of the node: the backups
	// hold its ops under it.
	Origin string
	// Pool dials the backups.
	Pool *transport.Pool
	// Go runs f on a goroutine the node waits for on shutdown; false once
	// it is stopping.
	Go func(f func()) bool
	// Stopping ends when the node stops: ops not answered then fail with
	// errs.ErrShutdown.
	Stopping context.Context
	// Logger receives the sender's logs.
	Logger hclog.Logger
}

// Sender is the owner side of replication: one queue per backup, whose
// ops and trims go out together in frames, up to window of them in flight,
// in the order they were queued. A frame the backup does not take is sent
// again, with backoff, until it does or the ring drops the backup (Prune);
// the backup holds each op once, whatever order its frames come in. Safe
// for concurrent use.
type Sender struct {
	cfg SenderConfig

	// peers, by RPC address, is read without a lock on the write path and
	// replaced whole under mu; nil once closed.
	mu    sync.Mutex
	peers atomic.Pointer[map[string]*peer]
	// pruned is the version of the ring of the last Prune (0 before the
	// first, the largest version after a Prune of no ring) and inRing its
	// members, by RPC address. A member out of it gets no queue from a
	// caller that read a ring no newer: nothing would prune that queue.
	// Guarded by mu.
	pruned uint64
	inRing map[string]bool

	pending atomic.Int64  // items queued and not answered
	idle    chan struct{} // capacity 1: pending fell to zero
}

// NewSender returns a sender with no backups yet.
func NewSender(cfg SenderConfig) *Sender {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	s := &Sender{cfg: cfg, idle: make(chan struct{}, 1)}
	s.peers.Store(&map[string]*peer{})
	return s
}

// item is a record (an op, with done) or a trim queued for a backup.
type item struct {
	rec  []byte
	done op.Done
	trim *proto.TrimRequest
}

type peer struct {
	s      *Sender
	m      ring.Member
	logger hclog.Logger
	wake   chan struct{} // capacity 1

	// mu guards queue, dropped.
	mu      sync.Mutex
	queue   []item
	dropped bool
}

// Send queues rec, an op encoded by journal.AppendRecord, for backup m of
// the ring of version v, and calls done once m holds it (nil), once the
// ring dropped m (nil: the owner flushes the partitions m backed up), or
// when the node stops (errs.ErrShutdown). It never blocks.
func (s *Sender) Send(v uint64, m ring.Member, rec []byte, done op.Done) {
	s.enqueue(v, m, item{rec: rec, done: done})
}

// Trim tells each of members that the ops of store in ranges left this
// node's memory (its sink has them, or its dead-letter), so that they drop
// what they hold of them; members are of the ring of version v. It never
// blocks.
func (s *Sender) Trim(v uint64, store string, ranges []sinks.Range, members []ring.Member) {
	if len(ranges) == 0 {
		return
	}
	t := &proto.TrimRequest{Store: store, Ranges: make([]proto.Range, len(ranges))}
	for i, r := range ranges {
		t.Ranges[i] = proto.Range{Partition: r.Partition, First: r.First, Last: r.Last}
	}
	for _, m := range members {
		s.enqueue(v, m, item{trim: t})
	}
}

func (s *Sender) enqueue(v uint64, m ring.Member, it item) {
	p, err := s.peer(v, m)
	switch {
	case err != nil:
		if it.done != nil {
			it.done.Done(err)
		}
	case p == nil || !p.push(it): // the ring dropped m: nothing to wait for
		if it.done != nil {
			it.done.Done(nil)
		}
	}
}

// push queues it and wakes the loop; false if the peer was dropped.
func (p *peer) push(it item) bool {
	p.mu.Lock()
	if p.dropped {
		p.mu.Unlock()
		return false
	}
	p.queue = append(p.queue, it)
	p.s.pending.Add(1)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return true
}

// peer returns the running queue of m, a member of the ring of version v,
// starting one if needed; nil when a ring no older than v was pruned and
// does not hold m.
func (s *Sender) peer(v uint64, m ring.Member) (*peer, error) {
	if ps := s.peers.Load(); ps != nil {
		if p, ok := (*ps)[m.Addr]; ok {
			return p, nil
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.peers.Load()
	if ps == nil {
		return nil, errs.ErrShutdown
	}
	if p, ok := (*ps)[m.Addr]; ok {
		return p, nil
	}
	if v <= s.pruned && !s.inRing[m.Addr] {
		return nil, nil
	}
	p := &peer{s: s, m: m, logger: s.cfg.Logger.With("backup", m.Name), wake: make(chan struct{}, 1)}
	if !s.cfg.Go(p.loop) {
		return nil, errs.ErrShutdown
	}
	next := maps.Clone(*ps)
	next[m.Addr] = p
	s.peers.Store(&next)
	return p, nil
}

// Prune drops the backups that are not in snap, every one when snap is
// nil (no member is in the ring: the last ones are leaving): their queued
// and unanswered ops are answered nil (the owner flushes what they backed
// up: durability.Keeper.Watch), their trims forgotten. Ops and trims for
// a member not in snap, read from a ring no newer, are answered at once.
func (s *Sender) Prune(snap *ring.Snapshot) {
	live := map[string]bool{}
	v := uint64(math.MaxUint64)
	if snap != nil {
		for _, m := range snap.Members() {
			live[m.Addr] = true
		}
		v = snap.Version()
	}
	s.mu.Lock()
	s.pruned, s.inRing = v, live
	var gone []*peer
	if ps := s.peers.Load(); ps != nil {
		next := map[string]*peer{}
		for addr, p := range *ps {
			if live[addr] {
				next[addr] = p
			} else {
				gone = append(gone, p)
			}
		}
		s.peers.Store(&next)
	}
	s.mu.Unlock()
	for _, p := range gone {
		s.answer(p.close(), nil)
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// Close refuses new backups; the running queues end when Stopping does.
func (s *Sender) Close() {
	s.mu.Lock()
	s.peers.Store(nil)
	s.mu.Unlock()
}

// Drain waits until every op and trim queued is answered (the trims of a
// final flush are out), or ctx ends.
func (s *Sender) Drain(ctx context.Context) {
	for s.pending.Load() > 0 {
		select {
		case <-s.idle:
		case <-ctx.Done():
			return
		}
	}
}

func (p *peer) close() []item {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropped = true
	q := p.queue
	p.queue = nil
	return q
}

// window is how many frames may be in flight to one backup: the ops
// queued while one is answered go out in the next, without waiting.
const window = 4

// frame is ops and trims sent to a backup together.
type frame struct {
	items    []item
	err      error       // the backup's answer, once it came
	answered atomic.Bool // the items were answered
}

// answer answers the frame's items with err, unless they were already.
func (f *frame) answer(s *Sender, err error) {
	if f.answered.CompareAndSwap(false, true) {
		s.answer(f.items, err)
	}
}

// loop sends the queue, up to window frames at a time, until the peer is
// dropped or the node stops. A frame that fails is sent again after a
// backoff; the backup skips the ops it holds already, in whatever order
// they come.
func (p *peer) loop() {
	results := make(chan *frame, window) // the frames in flight, once answered
	var inflight []*frame                // the frames in flight, for shutdown
	var retry []item                     // the items of failed frames, sent first
	backoff := time.Duration(0)          // the wait after the last failure; 0: none
	var pause <-chan time.Time           // ends the wait; nil when not waiting
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		for len(inflight) < window && pause == nil {
			items := p.next(&retry)
			if items == nil {
				break
			}
			f := &frame{items: items}
			inflight = append(inflight, f)
			p.send(f, results)
		}
		select {
		case <-p.wake:
		case r := <-results:
			inflight = slices.DeleteFunc(inflight, func(f *frame) bool { return f == r })
			switch {
			case r.err == nil:
				backoff = 0 // its items were answered as the answer came
			case p.isDropped():
				r.answer(p.s, nil) // the ring dropped the backup
			default:
				backoff = min(max(2*backoff, minBackoff), maxBackoff)
				wait := backoff + time.Duration(rand.Int64N(int64(backoff)))
				p.logger.Warn("cannot reach backup; sending again", "ops", len(r.items), "retry_in", wait, "error", r.err)
				retry = append(retry, r.items...)
				if pause == nil {
					timer.Reset(wait)
					pause = timer.C
				}
			}
		case <-pause:
			pause = nil
		case <-p.s.cfg.Stopping.Done():
			for _, f := range inflight {
				f.answer(p.s, errs.ErrShutdown)
			}
			p.s.answer(retry, errs.ErrShutdown)
			p.s.answer(p.close(), errs.ErrShutdown)
			return
		}
		if p.isDropped() && len(inflight) == 0 {
			p.s.answer(retry, nil)
			return
		}
	}
}

// next cuts the next frame: the failed items first, then the queue's head;
// nil when there is none, or the peer was dropped.
func (p *peer) next(retry *[]item) []item {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dropped {
		return nil
	}
	if len(*retry) > 0 {
		n := frameLen(*retry)
		items := (*retry)[:n:n]
		*retry = (*retry)[n:]
		return items
	}
	n := frameLen(p.queue)
	if n == 0 {
		return nil
	}
	items := p.queue[:n:n]
	p.queue = p.queue[n:]
	return items
}

func (p *peer) isDropped() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropped
}

// answer calls the done of each op among items with err: they are out of
// the sender's hands.
func (s *Sender) answer(items []item, err error) {
	for _, it := range items {
		if it.done != nil {
			it.done.Done(err)
		}
	}
	if s.pending.Add(-int64(len(items))) == 0 {
		select {
		case s.idle <- struct{}{}:
		default:
		}
	}
}

// frameLen is how many items at the head of q go in the next frame.
func frameLen(q []item) int {
	n, size := 0, 0
	for n < len(q) && n < maxFrameRecords {
		size += len(q[n].rec) + 64
		if n > 0 && size > maxFrameBytes {
			break
		}
		n++
	}
	return n
}

// send sends f to the backup; once the backup answers, f's items are
// answered if it holds them, and f goes to results.
func (p *peer) send(f *frame, results chan<- *frame) {
	req := proto.ReplicateRequest{Origin: p.s.cfg.Origin}
	size := 0
	for _, it := range f.items {
		size += binary.MaxVarintLen32 + len(it.rec)
	}
	req.Ops = make([]byte, 0, size)
	for _, it := range f.items {
		if it.trim != nil {
			req.Trims = append(req.Trims, *it.trim)
		} else {
			req.Ops = AppendFrame(req.Ops, it.rec)
		}
	}
	ctx, cancel := context.WithTimeout(p.s.cfg.Stopping, callTimeout)
	conn, err := p.s.cfg.Pool.Get(ctx, p.m.Addr)
	if err != nil {
		cancel()
		f.err = fmt.Errorf("connect to %s at %s: %w", p.m.Name, p.m.Addr, err)
		results <- f
		return
	}
	conn.Go(ctx, proto.MethodReplicate, transport.FlagForwarded, &req, nil, func(err error) {
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%s did not answer within %s: %w", p.m.Name, callTimeout, err)
		}
		f.err = err
		if err == nil {
			f.answer(p.s, nil) // here, on the connection's reader: the loop sends on meanwhile
		}
		results <- f // never blocks: at most window frames are in flight
	})
}
