package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/sinks"
)

// store is one declared store on one node: the data it owns and the
// pipeline that flushes it.
type store struct {
	n      *Node
	cfg    StoreConfig
	logger hclog.Logger
	kind   sinks.Kind

	counters *counterState
	buffers  *bufferState
	caches   *cacheState

	// flushSem, a lock that can be waited for with a deadline, is held for
	// a whole flush or replay: at most one sink call of the store is in
	// flight per node. It guards stuck.
	flushSem chan struct{}
	stuck    []pendingBatch // batches not yet delivered, tried again first

	stats storeStats
}

type storeStats struct {
	flushes      atomic.Int64 // batches the sink accepted
	failures     atomic.Int64 // failed attempts
	deadLettered atomic.Int64 // batches sent to the dead-letter
	lastFlush    atomic.Int64 // unix nanos of the last accepted batch
}

// maxRetryDelay caps the exponential backoff between flush attempts.
const maxRetryDelay = 5 * time.Minute

func newStore(n *Node, cfg StoreConfig) *store {
	s := &store{
		n:        n,
		cfg:      cfg.withDefaults(),
		logger:   n.logger.With("store", cfg.Name),
		flushSem: make(chan struct{}, 1),
	}
	switch cfg.Kind {
	case KindCounter:
		s.kind = sinks.KindCounter
		s.counters = newCounterState(n.cfg.Ring.Partitions)
	case KindBuffer:
		s.kind = sinks.KindBuffer
		s.buffers = newBufferState(n.cfg.Ring.Partitions, s.cfg)
	case KindCache:
		s.caches = newCacheState(n.cfg.Ring.Partitions, s.cfg)
	}
	return s
}

// pendingBatch is a batch on its way to the sink, with what it accounts
// for: the ops it acknowledged and the bytes it holds.
type pendingBatch struct {
	batch sinks.Batch
	ops   int64
	bytes int64
}

// flushMode says what a flush takes.
type flushMode int

const (
	flushDue   flushMode = iota // the flush loop: what is due (counters: everything)
	flushAll                    // Flush: everything
	flushFinal                  // stopping: everything, then refuse writes; failures are dead-lettered
)

// flushLoop flushes the store until ctx ends: counters every interval plus
// jitter; buffers every few milliseconds for the keys that are due, and at
// once when a key reaches max_size or memory is high.
func (s *store) flushLoop(ctx context.Context) {
	next := s.nextInterval
	var kick chan struct{}
	if s.buffers != nil {
		next = s.buffers.tick
		kick = s.buffers.kick
	}
	t := time.NewTimer(next())
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-kick:
		case <-ctx.Done():
			return
		}
		mode := flushDue
		if s.buffers != nil && s.cfg.MaxBytes > 0 && s.buffers.held.Load() > s.cfg.MaxBytes/2 {
			mode = flushAll
		}
		if _, err := s.flush(ctx, mode); err != nil && ctx.Err() == nil {
			s.logger.Error("flush failed", "error", err)
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(next())
	}
}

func (s *store) nextInterval() time.Duration {
	if s.cfg.Jitter <= 0 {
		return s.cfg.Interval
	}
	return s.cfg.Interval + rand.N(s.cfg.Jitter)
}

// FlushResult says what one flush of one store did.
type FlushResult struct {
	Batches      int // batches the sink accepted
	Keys         int // keys in them
	DeadLettered int // batches sent to the dead-letter
}

// flush swaps out what the store holds and delivers it. Writers are not
// blocked: they fill fresh maps meanwhile. If ctx ends before a batch is
// delivered, the batch is kept for the next flush, or dead-lettered when
// the node is stopping.
func (s *store) flush(ctx context.Context, mode flushMode) (FlushResult, error) {
	return s.flushParts(ctx, mode, nil)
}

// flushParts is flush for only the listed partitions (nil: all).
func (s *store) flushParts(ctx context.Context, mode flushMode, only []int) (FlushResult, error) {
	if err := s.lock(ctx); err != nil {
		if mode == flushFinal {
			return s.spill(err)
		}
		return FlushResult{}, err
	}
	defer s.unlock()

	batches := s.stuck
	s.stuck = nil
	if pb, ok := s.take(mode, only); ok {
		batches = append(batches, pb)
	}
	var res FlushResult
	var errs []error
	for _, pb := range batches {
		b := pb.batch
		var err error
		if err = ctx.Err(); err == nil {
			err = s.deliver(ctx, b)
		}
		switch {
		case err == nil:
			res.Batches++
			res.Keys += b.Len()
			s.settle(pb)
			continue
		case ctx.Err() != nil && mode != flushFinal:
			// Interrupted, not failed: kept, in order, for the next flush.
			s.stuck = append(s.stuck, pb)
			errs = append(errs, fmt.Errorf("batch %s not delivered yet, kept for the next flush: %w", b.ID, err))
			continue
		}
		if derr := s.n.dlq.write(b, err, s.cfg.RetryMax); derr != nil {
			// Never drop: keep it in memory and try again next flush.
			s.logger.Error("cannot write dead-letter; keeping the batch in memory", "batch", b.ID, "error", derr)
			s.stuck = append(s.stuck, pb)
			errs = append(errs, derr)
			continue
		}
		s.settle(pb)
		s.stats.deadLettered.Add(1)
		res.DeadLettered++
		s.logger.Error("batch dead-lettered", "batch", b.ID, "keys", b.Len(), "error", err)
		errs = append(errs, fmt.Errorf("%w: %s: %w", ErrDeadLettered, b.ID, err))
	}
	return res, errors.Join(errs...)
}

// lock takes the flush lock, or gives up when ctx ends.
func (s *store) lock(ctx context.Context) error {
	select {
	case s.flushSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the flush in progress: %w", ctx.Err())
	}
}

func (s *store) unlock() { <-s.flushSem }

// spill is the final flush when the flush lock could not be had in time (a
// sink call ignoring its deadline holds it): what the store holds goes
// straight to the dead-letter, not through the sink.
func (s *store) spill(cause error) (FlushResult, error) {
	var res FlushResult
	pb, ok := s.take(flushFinal, nil)
	if !ok {
		return res, cause
	}
	if err := s.n.dlq.write(pb.batch, cause, 0); err != nil {
		s.logger.Error("data lost: could not flush or dead-letter it before the node stopped",
			"batch", pb.batch.ID, "keys", pb.batch.Len(), "error", err)
		return res, fmt.Errorf("store %s: %d keys lost: %w", s.cfg.Name, pb.batch.Len(), errors.Join(cause, err))
	}
	s.settle(pb)
	s.stats.deadLettered.Add(1)
	res.DeadLettered++
	s.logger.Error("batch dead-lettered without trying the sink: a flush in progress held it past the deadline", "batch", pb.batch.ID, "keys", pb.batch.Len())
	return res, fmt.Errorf("%w: %s: %w", ErrDeadLettered, pb.batch.ID, cause)
}

// settle accounts for a batch that left memory: delivered, or on disk in
// the dead-letter.
func (s *store) settle(pb pendingBatch) {
	s.n.exposed.Add(-pb.ops)
	if s.buffers != nil {
		s.buffers.release(pb.bytes)
	}
}

// take swaps out the store's data as a batch; false when there is none.
func (s *store) take(mode flushMode, only []int) (pendingBatch, bool) {
	now := time.Now()
	b := sinks.Batch{Store: s.cfg.Name, Kind: s.kind, Node: s.n.cfg.Name, Time: now}
	pb := pendingBatch{}
	switch s.kind {
	case sinks.KindCounter:
		b.Counts, pb.ops = s.counters.take(mode == flushFinal, only)
	case sinks.KindBuffer:
		b.Values, pb.ops, pb.bytes = s.buffers.take(now, mode != flushDue, mode == flushFinal, only)
	}
	if b.Len() == 0 {
		return pb, false
	}
	b.ID = s.n.nextBatchID()
	pb.batch = b
	return pb, true
}

// deliver tries the sink up to RetryMax times with growing gaps. It returns
// the last error, or ctx's error if ctx ended first.
func (s *store) deliver(ctx context.Context, b sinks.Batch) error {
	delay := s.cfg.RetryDelay
	for attempt := 1; ; attempt++ {
		err := s.callSink(ctx, b)
		if err == nil {
			s.stats.flushes.Add(1)
			s.stats.lastFlush.Store(time.Now().UnixNano())
			if attempt > 1 {
				s.logger.Info("batch delivered after retries", "batch", b.ID, "attempts", attempt)
			}
			return nil
		}
		s.stats.failures.Add(1)
		if attempt >= s.cfg.RetryMax || errors.Is(err, sinks.ErrPermanent) {
			return err
		}
		wait := jitter(delay)
		if after, ok := sinks.RetryAfter(err); ok && after > wait {
			wait = min(after, maxRetryDelay)
		}
		s.logger.Warn("flush attempt failed; retrying", "batch", b.ID, "attempt", attempt, "of", s.cfg.RetryMax, "retry_in", wait, "error", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (after %d failed attempts, last: %w)", ctx.Err(), attempt, err)
		}
		delay = min(2*delay, maxRetryDelay)
	}
}

// callSink hands b to the sink under FlushTimeout, turning a panic into an
// error.
func (s *store) callSink(ctx context.Context, b sinks.Batch) (err error) {
	if s.cfg.FlushTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.FlushTimeout)
		defer cancel()
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sink panicked: %v", r)
		}
	}()
	return s.cfg.Sink.Flush(ctx, b)
}

// jitter returns d plus or minus up to 20%.
func jitter(d time.Duration) time.Duration {
	q := int64(d / 5)
	if q <= 0 {
		return d
	}
	return d - time.Duration(q) + time.Duration(rand.Int64N(2*q+1))
}
