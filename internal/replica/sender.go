package replica

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/internal/errs"
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
// ops and trims go out together in one frame while the previous frame is
// answered, in the order they were queued. A backup that cannot be reached
// is tried again, with backoff, until it answers or the ring drops it
// (Prune). Safe for concurrent use.
type Sender struct {
	cfg SenderConfig

	// mu guards peers; nil once stopped.
	mu    sync.Mutex
	peers map[string]*peer // by RPC address
}

// NewSender returns a sender with no backups yet.
func NewSender(cfg SenderConfig) *Sender {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	return &Sender{cfg: cfg, peers: map[string]*peer{}}
}

// item is a record (an op, with done) or a trim queued for a backup.
type item struct {
	rec  []byte
	done func(error)
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

// Send queues rec, an op encoded by journal.AppendRecord, for backup m, and
// calls done once m holds it (nil), once the ring dropped m (nil: the
// owner flushes the partitions m backed up), or when the node stops
// (errs.ErrShutdown). It never blocks.
func (s *Sender) Send(m ring.Member, rec []byte, done func(error)) {
	s.enqueue(m, item{rec: rec, done: done})
}

// Trim tells each of members that the ops of store in ranges left this
// node's memory (its sink has them, or its dead-letter), so that they drop
// what they hold of them. It never blocks.
func (s *Sender) Trim(store string, ranges []sinks.Range, members []ring.Member) {
	if len(ranges) == 0 {
		return
	}
	t := &proto.TrimRequest{Store: store, Ranges: make([]proto.Range, len(ranges))}
	for i, r := range ranges {
		t.Ranges[i] = proto.Range{Partition: r.Partition, First: r.First, Last: r.Last}
	}
	for _, m := range members {
		s.enqueue(m, item{trim: t})
	}
}

func (s *Sender) enqueue(m ring.Member, it item) {
	p, err := s.peer(m)
	if err != nil {
		if it.done != nil {
			it.done(err)
		}
		return
	}
	p.mu.Lock()
	if p.dropped {
		p.mu.Unlock()
		if it.done != nil {
			it.done(nil)
		}
		return
	}
	p.queue = append(p.queue, it)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// peer returns the running queue of m, starting one if needed.
func (s *Sender) peer(m ring.Member) (*peer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.peers[m.Addr]; ok {
		return p, nil
	}
	if s.peers == nil {
		return nil, errs.ErrShutdown
	}
	p := &peer{s: s, m: m, logger: s.cfg.Logger.With("backup", m.Name), wake: make(chan struct{}, 1)}
	if !s.cfg.Go(p.loop) {
		return nil, errs.ErrShutdown
	}
	s.peers[m.Addr] = p
	return p, nil
}

// Prune drops the backups that are not in snap: their queued ops are
// answered nil (the owner flushes what they backed up, see the node's ring
// watch), their trims forgotten.
func (s *Sender) Prune(snap *ring.Snapshot) {
	live := map[string]bool{}
	for _, m := range snap.Members() {
		live[m.Addr] = true
	}
	s.mu.Lock()
	var gone []*peer
	for addr, p := range s.peers {
		if !live[addr] {
			gone = append(gone, p)
			delete(s.peers, addr)
		}
	}
	s.mu.Unlock()
	for _, p := range gone {
		for _, it := range p.close() {
			if it.done != nil {
				it.done(nil)
			}
		}
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// Close refuses new backups; the running queues end when Stopping does.
func (s *Sender) Close() {
	s.mu.Lock()
	s.peers = nil
	s.mu.Unlock()
}

// drainPoll is how often Drain looks at the queues.
const drainPoll = 10 * time.Millisecond

// Drain waits until every queue is empty (the trims of a final flush are
// out), or ctx ends.
func (s *Sender) Drain(ctx context.Context) {
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for s.Pending() > 0 {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// Pending counts the ops queued or in flight to backups.
func (s *Sender) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.peers {
		p.mu.Lock()
		n += len(p.queue)
		p.mu.Unlock()
	}
	return n
}

func (p *peer) close() []item {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropped = true
	q := p.queue
	p.queue = nil
	return q
}

// loop sends the queue, a frame at a time, until the peer is dropped or
// the node stops.
func (p *peer) loop() {
	backoff := minBackoff
	for {
		select {
		case <-p.wake:
		case <-p.s.cfg.Stopping.Done():
			p.shutdown()
			return
		}
		for {
			p.mu.Lock()
			if p.dropped {
				p.mu.Unlock()
				return
			}
			n := frameLen(p.queue)
			frame := p.queue[:n:n]
			p.mu.Unlock()
			if n == 0 {
				break
			}
			if err := p.send(frame); err != nil {
				p.logger.Warn("cannot reach backup; sending again", "ops", len(frame), "retry_in", backoff, "error", err)
				t := time.NewTimer(backoff + time.Duration(rand.Int64N(int64(backoff))))
				select {
				case <-t.C:
				case <-p.s.cfg.Stopping.Done():
					t.Stop()
					p.shutdown()
					return
				}
				backoff = min(2*backoff, maxBackoff)
				continue // the frame stays at the queue's head (unless dropped)
			}
			backoff = minBackoff
			p.mu.Lock()
			if !p.dropped {
				p.queue = p.queue[n:]
			}
			p.mu.Unlock()
			for _, it := range frame {
				if it.done != nil {
					it.done(nil)
				}
			}
		}
	}
}

// shutdown answers what the queue holds: the node stops.
func (p *peer) shutdown() {
	for _, it := range p.close() {
		if it.done != nil {
			it.done(errs.ErrShutdown)
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

// send sends frame to the backup and waits for its answer.
func (p *peer) send(frame []item) error {
	req := proto.ReplicateRequest{Origin: p.s.cfg.Origin}
	for _, it := range frame {
		if it.trim != nil {
			req.Trims = append(req.Trims, *it.trim)
		} else {
			req.Records = append(req.Records, it.rec)
		}
	}
	ctx, cancel := context.WithTimeout(p.s.cfg.Stopping, callTimeout)
	defer cancel()
	conn, err := p.s.cfg.Pool.Get(ctx, p.m.Addr)
	if err != nil {
		return fmt.Errorf("connect to %s at %s: %w", p.m.Name, p.m.Addr, err)
	}
	answered := make(chan error, 1)
	conn.Go(ctx, proto.MethodReplicate, transport.FlagForwarded, &req, nil, func(err error) { answered <- err })
	select {
	case err = <-answered:
	case <-ctx.Done(): // the answer, if it comes, goes to the buffered channel
		err = ctx.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s did not answer within %s: %w", p.m.Name, callTimeout, err)
	}
	return err
}
