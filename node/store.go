package node

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/hoard-dev/hoard/cluster"

	"github.com/hoard-dev/hoard/internal/buffer"
	"github.com/hoard-dev/hoard/internal/cache"
	"github.com/hoard-dev/hoard/internal/counter"
	"github.com/hoard-dev/hoard/internal/durability"
	"github.com/hoard-dev/hoard/internal/flush"
	"github.com/hoard-dev/hoard/internal/journal"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/internal/route"
	"github.com/hoard-dev/hoard/ring"
)

// engine is a store kind's state as the node drives it. The engines live
// with their state machines: internal/counter, internal/buffer (both
// flushed through internal/flush) and internal/cache.
type engine interface {
	route.Applier
	// Run does the store's background work (flushes, refreshes) until ctx
	// ends.
	Run(ctx context.Context)
	// Lose is told the partitions this node no longer owns; first is set
	// for the node's first ring, whose "lost" partitions it never owned.
	Lose(partitions []int, first bool)
	// Close does the store's last work when the node stops gracefully: a
	// final flush, a dump.
	Close(ctx context.Context) error
	// Stats counts what the store holds.
	Stats() (keys int, values, bytes int64)
}

// store is one declared store on one node.
type store struct {
	cfg  StoreConfig
	eng  engine
	pipe *flush.Pipeline // counters and buffers; nil for caches
}

func (n *Node) newStore(cfg StoreConfig) *store {
	s := &store{cfg: cfg.withDefaults()}
	h := op.Host{
		Node: n.cfg.Name, Partitions: n.cfg.Ring.Partitions, Go: n.goFunc, Stopping: n.loopCtx,
		Exposed: &n.exposed.Int64, Origin: n.keeper.Origin(), BatchID: n.keeper.BatchID, Logger: n.logger.With("store", cfg.Name),
	}
	fc := flush.Config{
		Store: s.cfg.Name, Sink: s.cfg.Sink, RetryMax: s.cfg.RetryMax, RetryDelay: s.cfg.RetryDelay,
		FlushTimeout: s.cfg.FlushTimeout, DeadLetters: n.dlq, Logger: h.Logger, Stopping: n.loopCtx, Go: n.goFunc,
	}
	replicas := 0
	if s.cfg.Ack == AckReplicated {
		replicas = s.cfg.Replicas
	}
	if s.cfg.logged() {
		h.Journal = n.keeper.Journal(replicas)
		fc.Overlap = n.keeper.Overlap(journal.Replayer{Sink: s.cfg.Sink, RetryMax: s.cfg.RetryMax, RetryDelay: s.cfg.RetryDelay})
	}
	switch s.cfg.Kind {
	case KindCounter:
		e := counter.NewEngine(h, counter.Config{Name: s.cfg.Name, Interval: s.cfg.Interval, Jitter: s.cfg.Jitter, Flush: fc})
		s.eng, s.pipe = e, e.Pipeline
	case KindBuffer:
		e := buffer.NewEngine(h, s.cfg.Name, buffer.Config{Interval: s.cfg.Interval, Jitter: s.cfg.Jitter, MaxSize: s.cfg.MaxSize, MaxBytes: s.cfg.MaxBytes}, fc)
		s.eng, s.pipe = e, e.Pipeline
	case KindCache:
		cc := cache.EngineConfig{
			Name: s.cfg.Name, TTL: s.cfg.TTL, MaxEntries: s.cfg.MaxEntries, SkipSave: s.cfg.SkipSave,
			Load:            cache.LoadConfig{Loader: s.cfg.Loader, Timeout: s.cfg.LoadTimeout, MaxValueBytes: n.cfg.MaxValueBytes, Logger: h.Logger},
			RefreshInterval: s.cfg.RefreshInterval,
			DumpInterval:    s.cfg.DumpInterval,
			ValidKey:        func(key string) error { return op.CheckKey(s.cfg.Name, key) },
			Set: func(ctx context.Context, key string, v []byte, done func(error)) {
				n.routeOp(ctx, s, op.Op{Kind: op.Set, Key: key, Values: [][]byte{v}}, done)
			},
			HandOff: func(moved []cache.Listed) {
				for _, l := range moved {
					o := op.Op{Kind: op.Adopt, Key: l.Key, Values: [][]byte{l.Entry.Value()}, Delta: l.Entry.Loaded().UnixNano(), TTL: l.TTL}
					n.routeOp(n.loopCtx, s, o, func(error) {}) // at worst the new owner loads the key
				}
			},
		}
		if s.cfg.Dump {
			cc.DumpPath = filepath.Join(n.cfg.DataDir, "cache", s.cfg.Name+".dump")
		}
		s.eng = cache.NewEngine(h, cc)
	}
	if s.pipe != nil {
		n.keeper.Add(s.cfg.Name, durability.Store{
			Replayer: journal.Replayer{Sink: s.cfg.Sink, RetryMax: s.cfg.RetryMax, RetryDelay: s.cfg.RetryDelay, Deliver: s.pipe.Deliver},
			Replicas: replicas, HandOff: s.pipe.Lose,
		})
	}
	return s
}

// durabilityConfig wires the node's durability keeper.
func (n *Node) durabilityConfig() durability.Config {
	logged := slices.ContainsFunc(n.cfg.Stores, func(s StoreConfig) bool { return s.withDefaults().logged() })
	return durability.Config{
		Name: n.cfg.Name, DataDir: n.cfg.DataDir, Logged: logged, SyncEvery: n.cfg.walSyncEvery(),
		Pool: n.pool, Go: n.goFunc, Stopping: n.loopCtx, Ring: n.ring,
		Members: func() []cluster.Member { return n.cluster.Members() }, DeadLetters: n.dlq, Logger: n.logger,
	}
}

// ring is the current ring, nil before the cluster runs.
func (n *Node) ring() *ring.Snapshot {
	if n.cluster == nil {
		return nil
	}
	return n.cluster.Ring()
}

// routeOp sends o to its key's owner in store s (a loader's extra entries,
// seeds, cache entries handed over) and calls done with the outcome. The
// retries end with ctx.
func (n *Node) routeOp(ctx context.Context, s *store, o op.Op, done func(error)) {
	o.Store = s.cfg.Name
	n.router.Route(&route.Call{Op: o, Target: s.eng, Ctx: ctx, Done: func(r op.Result) { done(r.Err) }})
}

// accepts reports whether an op of kind fits the store's kind.
func (s *store) accepts(kind op.Kind) error {
	if !kind.Valid() {
		return fmt.Errorf("%w: unknown op kind %d", ErrWrongKind, kind)
	}
	if kind.Spec().Store != string(s.cfg.Kind) {
		return fmt.Errorf("%w: %q is a %s store", ErrWrongKind, s.cfg.Name, s.cfg.Kind)
	}
	return nil
}

// flush runs one flush of a counter or buffer store (nothing for caches).
func (s *store) flush(ctx context.Context, mode flush.Mode) (FlushResult, error) {
	if s.pipe == nil {
		return FlushResult{}, nil
	}
	return s.pipe.Flush(ctx, mode, nil)
}
