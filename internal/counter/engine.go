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

// Apply runs an Incr or a Count on partition p; always at once.
func (e *Engine) Apply(o *op.Op, p int, _ func(op.Result)) (op.Result, bool) {
	if o.Kind == op.Count {
		return op.Result{Count: e.state.Get(p, o.Key)}, true
	}
	// Counted as exposed before it is visible to a flush, so the count
	// never goes below what is held.
	e.host.Exposed.Add(1)
	if err := e.state.Add(p, o.Key, o.Delta); err != nil {
		e.host.Exposed.Add(-1)
		return op.Failed(err), true
	}
	return op.Result{}, true
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
	counts, ops := s.state.Take(mode == flush.Final, only)
	if len(counts) == 0 {
		return flush.Pending{Ops: ops}, false
	}
	b := sinks.Batch{ID: s.host.BatchID(), Store: s.cfg.Name, Kind: sinks.KindCounter, Node: s.host.Node, Time: time.Now(), Counts: counts}
	return flush.Pending{Batch: b, Ops: ops}, true
}

// Settle stops counting a batch's ops as exposed.
func (s *source) Settle(pb flush.Pending) { s.host.Exposed.Add(-pb.Ops) }
