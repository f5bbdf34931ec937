package counter

import (
	"context"
	"time"

	"github.com/hoard-dev/hoard/internal/flush"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/sinks"
)

// Config configures a counter store's Engine.
type Config struct {
	Name     string
	Interval time.Duration // between two flushes
	Jitter   time.Duration // up to this much more, at random, each time
	Flush    flush.Config
}

// Engine drives a counter store on a node: deltas held in a Store, flushed
// as sums every interval (plus jitter) through a flush pipeline.
type Engine struct {
	host            op.Host
	cfg             Config
	state           *Store
	*flush.Pipeline      // Lose, Close and the node's manual flushes
	recycle         bool // the sink keeps no batch: settled batches' Counts are reused
}

// NewEngine returns the engine of a counter store; Run starts its flushes.
func NewEngine(h op.Host, cfg Config) *Engine {
	_, borrows := cfg.Flush.Sink.(sinks.Borrower)
	e := &Engine{host: h, cfg: cfg, state: New(h.Partitions), recycle: borrows}
	if borrows {
		e.state.MapBatches()
	}
	e.Pipeline = flush.New(cfg.Flush, (*source)(e))
	return e
}

// Apply runs an Incr or a Count on partition p. A Count, and an Incr of a
// store without a journal, are done at once; an Incr written to the
// journal is acknowledged through done once the log has it (op.Host.Write).
func (e *Engine) Apply(o *op.Op, p int, done func(op.Result)) (op.Result, bool) {
	if o.Kind == op.Count {
		return op.Result{Count: e.state.Get(p, o.Key)}, true
	}
	return e.host.Write(o, p, done, func(log op.Log) (int64, error) {
		return e.state.Add(p, o.Key, o.Delta, log)
	})
}

// Run flushes every interval plus jitter until ctx ends.
func (e *Engine) Run(ctx context.Context) {
	e.Pipeline.Run(ctx, func() time.Duration { return flush.Interval(e.cfg.Interval, e.cfg.Jitter) }, nil,
		func() flush.Mode { return flush.Due })
}

// Stats counts the keys and increments held.
func (e *Engine) Stats() (keys int, values, bytes int64) {
	keys, values = e.state.Stats()
	return keys, values, 0
}

// source is the Engine as the pipeline's flush.Source.
type source Engine

// Take swaps out every delta (a counter's keys are always due).
func (s *source) Take(mode flush.Mode, only []int) (flush.Pending, bool) {
	counts, ranges, ops := s.state.Take(mode == flush.Final, only)
	if len(counts) == 0 {
		return flush.Pending{Ops: ops}, false
	}
	b := s.host.Batch(s.cfg.Name, sinks.KindCounter, ranges)
	b.Counts = counts
	return flush.Pending{Batch: b, Ops: ops}, true
}

// Settle stops counting a batch's ops as exposed and, when the sink is a
// sinks.Borrower, gives its Counts back for the next take.
func (s *source) Settle(pb flush.Pending) {
	s.host.Settle(pb.Batch, pb.Ops)
	if s.recycle {
		s.state.Recycle(pb.Batch.Counts)
	}
}
