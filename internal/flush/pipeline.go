package flush

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/sinks"
)

// ErrDeadLettered is returned (wrapped) by Flush when a batch failed every
// attempt, or could not be tried, and went to the dead-letter: it is on
// disk, to be replayed, not lost.
var ErrDeadLettered = errors.New("flush: batch dead-lettered")

// Pipeline flushes one store of one node: it takes batches from its Source,
// hands them to the sink with retries, and dead-letters what cannot be
// delivered. Its methods are safe for concurrent use; at most one sink call
// is in flight at a time.
type Pipeline struct {
	cfg    Config
	src    Source
	logger hclog.Logger
	err    error // cfg's problem, returned by Flush and Replay

	// sem, a lock that can be waited for with a deadline, is held for a
	// whole flush or replay: at most one sink call of the store is in
	// flight per node. It guards stuck.
	sem   chan struct{}
	stuck []Pending // batches not yet delivered, oldest first, tried again first

	flushes      atomic.Int64 // batches the sink accepted
	failures     atomic.Int64 // failed attempts
	deadLettered atomic.Int64 // batches sent to the dead-letter
	overlaps     atomic.Int64 // batches rebuilt because another delivery applied part of them
	lastFlush    atomic.Int64 // unix nanos of the last accepted batch
	handOffs     atomic.Int64 // hand-off flushes started and not finished
}

// New returns a pipeline that flushes src to cfg.Sink. It starts nothing:
// call Flush, or Run for the periodic loop. cfg is validated here; if it is
// invalid, Flush and Replay return Validate's error, which wraps
// ErrInvalidConfig (and Run logs it), without touching src or the sink.
func New(cfg Config, src Source) *Pipeline {
	p := &Pipeline{cfg: cfg, src: src, logger: cfg.Logger, err: cfg.Validate(), sem: make(chan struct{}, 1)}
	if p.logger == nil {
		p.logger = hclog.NewNullLogger()
	}
	return p
}

// Stats returns the pipeline's counters.
func (p *Pipeline) Stats() Stats {
	s := Stats{Flushes: p.flushes.Load(), Failures: p.failures.Load(), DeadLettered: p.deadLettered.Load(), Overlaps: p.overlaps.Load()}
	if t := p.lastFlush.Load(); t != 0 {
		s.LastFlush = time.Unix(0, t)
	}
	return s
}

// Flush takes what the Source holds for mode (only the listed partitions;
// nil: all) and delivers it, after the batches kept from earlier flushes,
// in order. A flush or replay in progress is waited for first. Writers are
// not blocked: they fill fresh maps meanwhile.
//
// If ctx ends before a batch is delivered, the batch is kept for the next
// flush (Due, All), or dead-lettered (Final). A batch that fails every
// attempt, or fails with sinks.ErrPermanent, is dead-lettered; the error
// then wraps ErrDeadLettered and the sink's error. If the dead-letter
// cannot be written the batch is kept in memory for the next flush, never
// dropped. In Final mode, if the flush lock cannot be had before ctx ends
// (a sink call ignoring its deadline holds it), what the Source holds is
// dead-lettered without trying the sink.
//
// The errors of all batches are joined; Result counts what was done even
// when an error is returned.
func (p *Pipeline) Flush(ctx context.Context, mode Mode, only []int) (Result, error) {
	if p.err != nil {
		return Result{}, p.err
	}
	if err := p.lock(ctx); err != nil {
		if mode == Final {
			return p.spill(err)
		}
		return Result{}, err
	}
	defer p.unlock()

	batches := p.stuck
	p.stuck = nil
	if pb, ok := p.src.Take(mode, only); ok {
		batches = append(batches, pb)
	}
	var res Result
	var errs []error
	for _, pb := range batches {
		b := pb.Batch
		attempts := 0
		var err error
		if err = ctx.Err(); err == nil {
			b, attempts, err = p.send(ctx, b, p.cfg.Overlap)
		}
		switch {
		case err == nil:
			res.Batches++
			res.Keys += b.Len()
			p.src.Settle(pb)
			continue
		case ctx.Err() != nil && mode != Final:
			// Interrupted, not failed: kept, in order, for the next flush.
			p.stuck = append(p.stuck, pb)
			errs = append(errs, fmt.Errorf("batch %s not delivered yet, kept for the next flush: %w", b.ID, err))
			continue
		}
		err = p.deadLetter(b, err, attempts, "batch dead-lettered")
		errs = append(errs, err)
		if !errors.Is(err, ErrDeadLettered) {
			// Never drop: keep it in memory and try again next flush.
			p.logger.Error("cannot write dead-letter; keeping the batch in memory", "batch", b.ID, "error", err)
			p.stuck = append(p.stuck, pb)
			continue
		}
		p.src.Settle(pb)
		res.DeadLettered++
	}
	return res, errors.Join(errs...)
}

// Deliver hands b, a batch that is not the Source's (ops read back from a
// write-ahead log, or held for a failed node), to the sink with the usual
// retries under the flush lock, and dead-letters it when every attempt
// fails; Settle is not called. rebuild, when not nil, plays Config.Overlap
// for b: it rebuilds b without what the sink applied. The error wraps
// ErrDeadLettered when b (or its rebuilt form) went to the dead-letter; any
// other error means b is neither delivered nor on disk.
func (p *Pipeline) Deliver(ctx context.Context, b sinks.Batch, rebuild Rebuild) error {
	if p.err != nil {
		return p.err
	}
	if err := p.lock(ctx); err != nil {
		return err
	}
	defer p.unlock()
	b, attempts, err := p.send(ctx, b, rebuild)
	if err == nil {
		return nil
	}
	derr := p.deadLetter(b, err, attempts, "batch dead-lettered")
	if !errors.Is(derr, ErrDeadLettered) {
		return fmt.Errorf("batch %s neither delivered nor dead-lettered: %w", b.ID, errors.Join(err, derr))
	}
	return derr
}

// deadLetter writes b, which failed with cause after attempts sink calls (0:
// never tried), to the dead-letter, counts it and logs msg. It returns the
// error to report for b, wrapping ErrDeadLettered and cause; or, when the
// dead-letter could not be written, the write's error, which does not wrap
// ErrDeadLettered: b is then nowhere but with the caller, which must keep it.
func (p *Pipeline) deadLetter(b sinks.Batch, cause error, attempts int, msg string) error {
	if err := p.cfg.DeadLetters.Write(b, cause, attempts); err != nil {
		return err
	}
	p.deadLettered.Add(1)
	p.logger.Error(msg, "batch", b.ID, "keys", b.Len(), "attempts", attempts, "error", cause)
	return fmt.Errorf("%w: %s: %w", ErrDeadLettered, b.ID, cause)
}

// lock takes the flush lock, or gives up when ctx ends.
func (p *Pipeline) lock(ctx context.Context) error {
	select {
	case p.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the flush in progress: %w", ctx.Err())
	}
}

func (p *Pipeline) unlock() { <-p.sem }

// spill is the final flush when the flush lock could not be had in time (a
// sink call ignoring its deadline holds it): what the store holds goes
// straight to the dead-letter, not through the sink, recorded with 0
// attempts. The batches the flush in progress holds are left to it.
func (p *Pipeline) spill(cause error) (Result, error) {
	var res Result
	pb, ok := p.src.Take(Final, nil)
	if !ok {
		return res, cause
	}
	b := pb.Batch
	err := p.deadLetter(b, cause, 0, "batch dead-lettered without trying the sink: a flush in progress held it past the deadline")
	if !errors.Is(err, ErrDeadLettered) {
		p.logger.Error("data lost: could not flush or dead-letter it before the node stopped",
			"batch", b.ID, "keys", b.Len(), "error", err)
		return res, fmt.Errorf("store %s: %d keys lost: %w", p.cfg.Store, b.Len(), errors.Join(cause, err))
	}
	p.src.Settle(pb)
	res.DeadLettered++
	return res, err
}

// maxOverlapRounds bounds the rebuilds of one batch: each meets a
// delivery that ran meanwhile, and there are few of those.
const maxOverlapRounds = 8

// send delivers b, rebuilt through rebuild (Config.Overlap) when a Positioner
// refuses it as partly applied by another delivery. It returns the batch
// it tried last (the one to dead-letter on failure), the attempts and the
// error, as deliver does.
func (p *Pipeline) send(ctx context.Context, b sinks.Batch, rebuild Rebuild) (sinks.Batch, int, error) {
	for round := 0; ; round++ {
		attempts, err := p.deliver(ctx, b)
		if err == nil || !errors.Is(err, sinks.ErrOverlap) || rebuild == nil || round == maxOverlapRounds {
			return b, attempts, err
		}
		rebuilt, left, rerr := rebuild(ctx, b)
		if rerr != nil {
			return b, attempts, fmt.Errorf("%w; rebuilding it op by op failed: %w", err, rerr)
		}
		p.overlaps.Add(1)
		if !left {
			p.logger.Warn("batch already applied by another delivery (a failover of this node's ops)", "batch", b.ID)
			return b, attempts, nil
		}
		p.logger.Warn("batch partly applied by another delivery (a failover of this node's ops); delivering the rest, rebuilt op by op",
			"batch", b.ID, "rebuilt", rebuilt.ID, "keys", rebuilt.Len())
		b = rebuilt
	}
}

// deliver tries the sink up to RetryMax times with growing gaps, once for
// a sinks.ErrPermanent error. It returns the attempts made and the last
// error, or ctx's error if ctx ended first.
func (p *Pipeline) deliver(ctx context.Context, b sinks.Batch) (int, error) {
	delay := p.cfg.RetryDelay
	for attempt := 1; ; attempt++ {
		err := p.callSink(ctx, b)
		if err == nil {
			p.flushes.Add(1)
			p.lastFlush.Store(time.Now().UnixNano())
			if attempt > 1 {
				p.logger.Info("batch delivered after retries", "batch", b.ID, "attempts", attempt)
			}
			return attempt, nil
		}
		p.failures.Add(1)
		if attempt >= p.cfg.RetryMax || errors.Is(err, sinks.ErrPermanent) {
			return attempt, err
		}
		wait := Jitter(delay)
		if after, ok := sinks.RetryAfter(err); ok && after > wait {
			wait = min(after, maxRetryDelay)
		}
		p.logger.Warn("flush attempt failed; retrying", "batch", b.ID, "attempt", attempt, "of", p.cfg.RetryMax, "retry_in", wait, "error", err)
		if !Sleep(ctx, wait) {
			return attempt, fmt.Errorf("%w (after %d failed attempts, last: %w)", ctx.Err(), attempt, err)
		}
		delay = min(2*delay, maxRetryDelay)
	}
}

// callSink hands b to the sink under FlushTimeout, turning a panic into an
// error.
func (p *Pipeline) callSink(ctx context.Context, b sinks.Batch) (err error) {
	if p.cfg.FlushTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.cfg.FlushTimeout)
		defer cancel()
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sink panicked: %v", r)
		}
	}()
	return p.cfg.Sink.Flush(ctx, b)
}
