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
	*flush.Pipeline // Lose, Close and the node's manual flushes
}

// NewEngine returns the engine of a counter store; Run starts its flushes.
func NewEngine(h op.Host, cfg Config) *Engine {
	e := &Engine{host: h, cfg: cfg, state: New(h.Partitions)}
	e.Pipeline = flush.New(cfg.Flush, (*source)(e))
	return e
}

// Apply runs an Incr or a Count on partition p. A Count, and an Incr of a
// store without a journal, are done at once; an Incr written to the
// journal is acknowledged through done once the log has it (with a nil
// done it is not applied: Apply returns false).
func (e *Engine) Apply(o *op.Op, p int, done func(op.Result)) (op.Result, bool) {
	if o.Kind == op.Count {
		return op.Result{Count: e.state.Get(p, o.Key)}, true
	}
	j := e.host.Journal
	if j != nil && done == nil {
		return op.Result{}, false
	}
	// Counted as exposed before it is visible to a flush, so the count
	// never goes below what is held.
	e.host.Exposed.Add(1)
	var log Log
	if j != nil {
		log = func(seq uint64) error { return j.Append(o, p, seq, op.Acknowledge(done)) }
	}
	if err := e.state.Add(p, o.Key, o.Delta, log); err != nil {
		e.host.Exposed.Add(-1)
		return op.Failed(err), true
	}
	return op.Result{}, j == nil
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

// Settle stops counting a batch's ops as exposed.
func (s *source) Settle(pb flush.Pending) { s.host.Settle(pb.Batch, pb.Ops) }
