package buffer

import (
	"context"
	"fmt"
	"time"

	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/flush"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/sinks"
)

// Engine drives a buffer store on a node: values held in a Store, each key
// flushed on its own clock or at MaxSize through a flush pipeline, the
// whole store early when it holds half its MaxBytes.
type Engine struct {
	host            op.Host
	name            string
	state           *Store
	*flush.Pipeline // Lose, Close and the node's manual flushes
}

// NewEngine returns the engine of the buffer store name; Run starts its
// flushes. cfg.Partitions is taken from the host.
func NewEngine(h op.Host, name string, cfg Config, fc flush.Config) *Engine {
	cfg.Partitions = h.Partitions
	e := &Engine{host: h, name: name, state: New(cfg)}
	e.Pipeline = flush.New(fc, (*source)(e))
	return e
}

// Apply runs an Insert, a Size or a Dump on partition p. A Size, a Dump,
// and an Insert of a store without a journal are done at once; an Insert
// written to the journal is acknowledged through done once the log has it
// (op.Host.Write).
func (e *Engine) Apply(o *op.Op, p int, done func(op.Result)) (op.Result, bool) {
	switch o.Kind {
	case op.Size:
		return op.Result{Count: int64(e.state.Size(p, o.Key))}, true
	case op.Dump:
		return op.Result{Values: e.state.Dump(p, o.Key)}, true
	}
	if len(o.Values) == 0 {
		return op.Failed(fmt.Errorf("%w: no values to insert", errs.ErrInvalidValue)), true
	}
	return e.host.Write(o, p, done, func(log op.Log) (int64, error) {
		held, err := e.state.Add(p, o.Key, o.Values, log)
		return int64(held), err
	})
}

// Run looks for due keys every few milliseconds, and at once when a key
// reaches MaxSize or memory is high (then it takes every key), until ctx
// ends.
func (e *Engine) Run(ctx context.Context) {
	e.Pipeline.Run(ctx, e.state.Tick, e.state.Kick(), func() flush.Mode {
		if e.state.High() {
			return flush.All
		}
		return flush.Due
	})
}

// Stats counts the keys, values and bytes held.
func (e *Engine) Stats() (keys int, values, bytes int64) {
	keys, values = e.state.Stats()
	return keys, values, e.state.Held()
}

// source is the Engine as the pipeline's flush.Source.
type source Engine

// Take swaps out the keys that are due (every key unless mode is
// flush.Due).
func (s *source) Take(mode flush.Mode, only []int) (flush.Pending, bool) {
	values, ranges, ops, bytes := s.state.Take(time.Now(), mode != flush.Due, mode == flush.Final, only)
	if len(values) == 0 {
		return flush.Pending{Ops: ops, Bytes: bytes}, false
	}
	b := s.host.Batch(s.name, sinks.KindBuffer, ranges)
	b.Values = values
	return flush.Pending{Batch: b, Ops: ops, Bytes: bytes}, true
}

// Settle stops counting a batch's ops as exposed and its bytes as held.
func (s *source) Settle(pb flush.Pending) {
	s.host.Settle(pb.Batch, pb.Ops)
	s.state.Release(pb.Bytes)
}
