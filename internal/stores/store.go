package stores

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/hoard-dev/hoard/internal/buffer"
	"github.com/hoard-dev/hoard/internal/cache"
	"github.com/hoard-dev/hoard/internal/counter"
	"github.com/hoard-dev/hoard/internal/durability"
	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/flush"
	"github.com/hoard-dev/hoard/internal/journal"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/internal/route"
)

// Engine is a store kind's state as the node drives it. The engines live
// with their state machines: internal/counter, internal/buffer (both
// flushed through internal/flush) and internal/cache.
type Engine interface {
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

// Store is one declared store on one node.
type Store struct {
	Config Config // with its defaults
	Engine Engine
	pipe   *flush.Pipeline // counters and buffers; nil for caches

	// handMu guards handing and handed: a cache's entries handed over and
	// not yet answered, and a channel closed once none is (nil while none
	// is pending). Not a WaitGroup: a ring change may hand entries over
	// while a leave waits (Set.AwaitHandOffs).
	handMu  sync.Mutex
	handing int
	handed  chan struct{}
}

// handOff counts an entry handed over; the returned func counts its answer.
func (s *Store) handOff() (answered func()) {
	s.handMu.Lock()
	if s.handing == 0 {
		s.handed = make(chan struct{})
	}
	s.handing++
	s.handMu.Unlock()
	return func() {
		s.handMu.Lock()
		if s.handing--; s.handing == 0 {
			close(s.handed)
			s.handed = nil
		}
		s.handMu.Unlock()
	}
}

// handOffsAnswered returns a channel closed once every entry handed over
// so far is answered: nil when none is pending.
func (s *Store) handOffsAnswered() <-chan struct{} {
	s.handMu.Lock()
	defer s.handMu.Unlock()
	return s.handed
}

// Deps is what a node's stores share: the node's identity, goroutines and
// logger (Host, whose Journal is set per store), its durability keeper and
// dead-letter, and its router.
type Deps struct {
	Host          op.Host
	Keeper        *durability.Keeper
	DeadLetters   *flush.DeadLetters
	DataDir       string // a cache's dump goes to DataDir/cache/NAME.dump
	MaxValueBytes int
	// Route sends an op a store makes itself (a cache's set by a loader,
	// entries handed over) to its key's owner and calls done with the
	// outcome; the retries end with ctx.
	Route func(ctx context.Context, s *Store, o op.Op, done func(error))
}

// New builds the store cfg declares, registering its log replay with
// d.Keeper when it has one. cfg must be valid (Config.Validate).
func New(cfg Config, d Deps) *Store {
	s := &Store{Config: cfg.WithDefaults()}
	c := s.Config
	h := d.Host
	h.Logger = h.Logger.With("store", c.Name)
	fc := flush.Config{
		Store: c.Name, Sink: c.Sink, RetryMax: c.RetryMax, RetryDelay: c.RetryDelay,
		FlushTimeout: c.FlushTimeout, DeadLetters: d.DeadLetters, Logger: h.Logger, Stopping: h.Stopping, Go: h.Go,
		Owns: h.Owns,
	}
	replicas := 0
	if c.Ack == AckReplicated {
		replicas = c.Replicas
	}
	if c.Logged() {
		h.Journal = d.Keeper.Journal(replicas)
		fc.Overlap = d.Keeper.Overlap(journal.Replayer{Sink: c.Sink, RetryMax: c.RetryMax, RetryDelay: c.RetryDelay})
	}
	switch c.Kind {
	case KindCounter:
		e := counter.NewEngine(h, counter.Config{Name: c.Name, Interval: c.Interval, Jitter: c.Jitter, Flush: fc})
		s.Engine, s.pipe = e, e.Pipeline
	case KindBuffer:
		e := buffer.NewEngine(h, c.Name, buffer.Config{Interval: c.Interval, Jitter: c.Jitter, MaxSize: c.MaxSize, MaxBytes: c.MaxBytes}, fc)
		s.Engine, s.pipe = e, e.Pipeline
	case KindCache:
		s.Engine = cache.NewEngine(h, s.cacheConfig(d, h))
	}
	if s.pipe != nil {
		d.Keeper.Add(c.Name, durability.Store{
			Replayer: journal.Replayer{Sink: c.Sink, RetryMax: c.RetryMax, RetryDelay: c.RetryDelay, Deliver: s.pipe.Deliver},
			Replicas: replicas, HandOff: s.pipe.HandOff,
		})
	}
	return s
}

// cacheConfig configures a cache store's engine.
func (s *Store) cacheConfig(d Deps, h op.Host) cache.EngineConfig {
	c := s.Config
	cc := cache.EngineConfig{
		Name: c.Name, TTL: c.TTL, MaxEntries: c.MaxEntries, SkipSave: c.SkipSave,
		Load:            cache.LoadConfig{Loader: c.Loader, Timeout: c.LoadTimeout, MaxValueBytes: d.MaxValueBytes, Logger: h.Logger},
		RefreshInterval: c.RefreshInterval,
		DumpInterval:    c.DumpInterval,
		ValidKey:        func(key string) error { return op.CheckKey(c.Name, key) },
		Set: func(ctx context.Context, key string, v []byte, done func(error)) {
			d.Route(ctx, s, op.Op{Kind: op.Set, Key: key, Values: [][]byte{v}}, done)
		},
		HandOff: func(moved []cache.Listed, deleted []cache.Deleted) {
			ops := make([]op.Op, 0, len(moved)+len(deleted))
			for _, l := range moved {
				ops = append(ops, op.Op{Kind: op.Adopt, Key: l.Key, Values: [][]byte{l.Entry.Value()}, Delta: l.Entry.Loaded().UnixNano(), TTL: l.TTL})
			}
			for _, g := range deleted { // an adopt with no value: a delete
				ops = append(ops, op.Op{Kind: op.Adopt, Key: g.Key, Delta: g.At.UnixNano()})
			}
			for _, o := range ops {
				answered := s.handOff()
				// At worst the new owner loads the key.
				d.Route(h.Stopping, s, o, func(error) { answered() })
			}
		},
	}
	if c.Dump {
		cc.DumpPath = filepath.Join(d.DataDir, "cache", c.Name+".dump")
	}
	return cc
}

// Accepts reports whether an op of kind fits the store's kind: nil, or
// errs.ErrWrongKind (wrapped).
func (s *Store) Accepts(kind op.Kind) error {
	if !kind.Valid() {
		return fmt.Errorf("%w: unknown op kind %d", errs.ErrWrongKind, kind)
	}
	if kind.Spec().Store != string(s.Config.Kind) {
		return fmt.Errorf("%w: %q is a %s store", errs.ErrWrongKind, s.Config.Name, s.Config.Kind)
	}
	return nil
}

// HandingOff reports whether a hand-off flush of the store's partitions is
// under way (flush.Pipeline.HandingOff); never for caches.
func (s *Store) HandingOff() bool { return s.pipe != nil && s.pipe.HandingOff() }

// flush runs one flush of a counter or buffer store (nothing for caches).
func (s *Store) flush(ctx context.Context, mode flush.Mode) (flush.Result, error) {
	if s.pipe == nil {
		return flush.Result{}, nil
	}
	return s.pipe.Flush(ctx, mode, nil)
}
