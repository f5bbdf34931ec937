package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/loaders"
	"github.com/hoard-dev/hoard/ring"
)

// EngineConfig configures a cache store's Engine.
type EngineConfig struct {
	Name       string
	TTL        time.Duration // see Config
	MaxEntries int           // see Config
	Load       LoadConfig
	// SkipSave returns loaded values without caching them.
	SkipSave bool
	// RefreshInterval reloads every entry this often; zero: never.
	RefreshInterval time.Duration
	// DumpPath, when set, is where the entries are dumped every
	// DumpInterval and on Close, and loaded from by NewEngine.
	DumpPath     string
	DumpInterval time.Duration
	// ValidKey checks a key from a dump, a loader's extra entries or a seed.
	ValidKey func(string) error
	// Set stores value for key at the key's owner, wherever it is, and
	// calls done with the outcome (a loader's extra entries, seeds).
	Set func(ctx context.Context, key string, value []byte, done func(error))
	// HandOff sends entries of partitions this node no longer owns, and
	// the keys deleted there within DeleteMemory, to their new owners
	// (op.Adopt); nil drops them.
	HandOff func(entries []Listed, deletes []Deleted)
}

// Engine drives a cache store on a node: entries held in a Store at their
// owner, loaded through the loader on a miss (one load per key in flight),
// refreshed, swept and dumped.
type Engine struct {
	host          op.Host
	cfg           EngineConfig
	state         *Store
	dumpedAtLeave atomic.Bool
}

// NewEngine returns the engine of a cache store, filled from its dump if
// it has one; Run starts its refreshes.
func NewEngine(h op.Host, cfg EngineConfig) *Engine {
	if cfg.ValidKey == nil {
		cfg.ValidKey = func(string) error { return nil }
	}
	e := &Engine{host: h, cfg: cfg, state: New(Config{Partitions: h.Partitions, TTL: cfg.TTL, MaxEntries: cfg.MaxEntries})}
	if cfg.DumpPath != "" {
		e.loadDump()
	}
	return e
}

func hit(v []byte) op.Result { return op.Result{Value: v, Found: true} }

// Apply runs a Get, Fetch, Set, Delete or Adopt on partition p. A hit, a
// Set, a Delete and an Adopt are done at once; a Set or Adopt with a TTL
// stores an entry expiring TTL from now, and one with a negative TTL fails
// with errs.ErrInvalidValue. On a miss, with a nil done Apply returns
// false and starts nothing; otherwise it joins or starts the key's load
// and calls done once it ends.
func (e *Engine) Apply(o *op.Op, p int, done func(op.Result)) (op.Result, bool) {
	if o.TTL < 0 {
		return op.Failed(fmt.Errorf("%w: negative ttl %v", errs.ErrInvalidValue, o.TTL)), true
	}
	switch o.Kind {
	case op.Adopt:
		switch len(o.Values) {
		case 0: // the previous owner deleted the key at Delta
			return op.Result{Deleted: e.state.AdoptDelete(p, o.Key, time.Unix(0, o.Delta))}, true
		case 1:
			e.state.Adopt(p, o.Key, o.Values[0], time.Unix(0, o.Delta), o.TTL)
			return op.Result{}, true
		}
		return op.Failed(fmt.Errorf("%w: adopt takes one value, or none for a delete", errs.ErrInvalidValue)), true
	case op.Set:
		if len(o.Values) != 1 {
			return op.Failed(fmt.Errorf("%w: set takes one value", errs.ErrInvalidValue)), true
		}
		e.state.SetTTL(p, o.Key, o.Values[0], o.TTL)
		return op.Result{}, true
	case op.Delete:
		return op.Result{Deleted: e.state.Delete(p, o.Key)}, true
	}
	if v, ok := e.state.Get(p, o.Key); ok {
		return hit(v), true
	}
	if done == nil {
		return op.Result{}, false
	}
	kind := o.Kind
	v, isHit, first := e.state.StartLoad(p, o.Key, func(out Outcome) {
		switch {
		case errors.Is(out.Err, ErrLoadFailed) && kind == op.Get:
			done(op.Result{Loaded: true}) // Get reads a failed load as not found
		case out.Err != nil:
			done(op.Failed(out.Err))
		case !out.Found:
			done(op.Result{Loaded: true})
		default:
			done(op.Result{Value: out.Value, Found: true, Loaded: true})
		}
	})
	switch {
	case isHit:
		return hit(v), true
	case first:
		e.runLoad(p, o.Key)
	}
	return op.Result{}, false
}

// Peek returns key's cached value in partition p, as a Get that hits
// (shared: callers must not modify it); false on a miss, with nothing
// started.
func (e *Engine) Peek(p int, key string) ([]byte, bool) { return e.state.Get(p, key) }

// runLoad loads key into partition p on a goroutine of the node's and
// hands the outcome to every caller waiting on it.
func (e *Engine) runLoad(p int, key string) {
	if !e.host.Go(func() {
		out, extra := e.load(e.host.Stopping, key)
		e.state.FinishLoad(p, key, out, !e.cfg.SkipSave)
		if len(extra) > 0 && !e.cfg.SkipSave {
			e.setExtra(extra)
		}
	}) {
		e.state.FinishLoad(p, key, Outcome{Err: errs.ErrShutdown}, false)
	}
}

func (e *Engine) load(ctx context.Context, key string) (Outcome, map[string][]byte) {
	return Load(ctx, e.host.Stopping, e.cfg.Load, key)
}

// accepts reports whether an entry the loader gave (what says where from)
// has a valid key and a value within max_value_bytes; it logs why not.
func (e *Engine) accepts(key string, v []byte, what string) bool {
	if err := e.cfg.ValidKey(key); err != nil {
		e.host.Logger.Warn(what+" with an invalid key; skipped", "key", key, "error", err)
		return false
	}
	if max := e.cfg.Load.MaxValueBytes; max > 0 && len(v) > max {
		e.host.Logger.Warn(what+" over max_value_bytes; skipped", "key", key, "bytes", len(v))
		return false
	}
	return true
}

// setExtra stores a load's extra entries, each at its own owner.
func (e *Engine) setExtra(extra map[string][]byte) {
	for k, v := range extra {
		if !e.accepts(k, v, "loader returned an extra entry") {
			continue
		}
		e.cfg.Set(e.host.Stopping, k, v, func(err error) {
			if err != nil {
				e.host.Logger.Warn("could not cache a loader's extra entry", "key", k, "error", err)
			}
		})
	}
}

// Run refreshes, sweeps and dumps the store until ctx ends, each on its own
// schedule and goroutine: a refresh every RefreshInterval, a sweep of
// expired entries every quarter of the TTL (at most a minute apart; every
// second without a TTL, for entries set with one), a dump every
// DumpInterval, each within ±5% of its slot (see schedule). A refresh or
// dump that takes longer than its interval is followed by the next one at
// once, never by several. Run returns once they all ended.
func (e *Engine) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, c := range e.chores() {
		wg.Go(func() { e.runChore(ctx, c) })
	}
	wg.Wait()
}

// Lose hands the entries of partitions this node no longer owns (or, on
// its first ring, never owned: read from its dump) to their new owners,
// with the keys deleted there lately; the new owners keep their own
// entries over them, but for those just read from their dump (a node back
// from a restart), which yield to newer entries and later deletes (see
// Store.Adopt). Without HandOff they are dropped and the new owners load
// on a miss.
func (e *Engine) Lose(partitions []int, _ bool) {
	var moved []Listed
	var deleted []Deleted
	for _, p := range partitions {
		m, d := e.state.TakePartition(p)
		moved, deleted = append(moved, m...), append(deleted, d...)
	}
	if len(moved) == 0 && len(deleted) == 0 {
		return
	}
	if e.cfg.HandOff != nil {
		e.cfg.HandOff(moved, deleted)
	}
	e.host.Logger.Debug("cache entries of partitions moved away handed over", "entries", len(moved), "deletes", len(deleted), "partitions", len(partitions))
}

// PrepareLeave writes the dump before a graceful leave hands every
// partition over, so that it holds what the node held; the dump at Close
// is then skipped.
func (e *Engine) PrepareLeave() error {
	if e.cfg.DumpPath == "" {
		return nil
	}
	e.dumpedAtLeave.Store(true)
	return e.writeDump()
}

// Close writes the last dump, if the store dumps and a leave did not.
func (e *Engine) Close(context.Context) error {
	if e.cfg.DumpPath == "" || e.dumpedAtLeave.Load() {
		return nil
	}
	if err := e.writeDump(); err != nil {
		return fmt.Errorf("cache dump of %s: %w", e.cfg.Name, err)
	}
	return nil
}

// Stats counts the entries held.
func (e *Engine) Stats() (keys int, values, bytes int64) { return e.state.Len(), 0, 0 }

func (e *Engine) writeDump() error {
	entries := e.state.List()
	if err := WriteDump(e.cfg.DumpPath, entries); err != nil {
		return err
	}
	e.host.Logger.Debug("cache dumped", "entries", len(entries), "path", e.cfg.DumpPath)
	return nil
}

// loadDump fills the store from its dump file, if there is one, each entry
// keeping its age for the TTL and its expiry. Entries this node turns out not to own are
// dropped when the ring says so (Lose). A missing dump is normal; a
// corrupt one is logged, keeping what was read before the damage.
func (e *Engine) loadDump() {
	loaded := 0
	maxLine := 2*e.cfg.Load.MaxValueBytes + 64<<10
	lines, err := ReadDump(e.cfg.DumpPath, maxLine, e.cfg.ValidKey, func(key string, value []byte, at, expires time.Time) {
		if e.state.Restore(ring.PartitionOf(e.host.Partitions, e.cfg.Name, key), key, value, at, expires) {
			loaded++
		}
	})
	if err != nil {
		e.host.Logger.Error("cache dump is corrupt or unreadable; keeping the entries read before the damage", "path", e.cfg.DumpPath, "error", err)
	}
	if lines > 0 {
		e.host.Logger.Info("cache loaded from its dump", "entries", loaded, "path", e.cfg.DumpPath)
	}
}

// Seed asks the loader, if it is a loaders.Initializer, for initial
// entries (DataWorker's init) and sets each at its owner, waiting for
// them. An init error is logged and start-up goes on, unless it wraps
// loaders.ErrStopStart: then Seed returns it.
func (e *Engine) Seed(ctx context.Context) error {
	init, ok := e.cfg.Load.Loader.(loaders.Initializer)
	if !ok {
		return nil
	}
	entries, err := callInit(ctx, init, e.cfg.Load.Timeout)
	if errors.Is(err, loaders.ErrStopStart) {
		return fmt.Errorf("cache %s: loader init asked to stop start-up: %w", e.cfg.Name, err)
	}
	if err != nil {
		e.host.Logger.Error("cache init failed; starting without its entries", "error", err)
		return nil
	}
	var wg sync.WaitGroup
	for k, v := range entries {
		if !e.accepts(k, v, "init returned an entry") {
			continue
		}
		wg.Add(1)
		e.cfg.Set(ctx, k, v, func(err error) {
			defer wg.Done()
			if err != nil {
				e.host.Logger.Warn("could not seed a cache entry", "key", k, "error", err)
			}
		})
	}
	wg.Wait()
	e.host.Logger.Info("cache seeded", "entries", len(entries))
	return nil
}

// callInit runs a loader's Init under timeout, turning a panic into an
// error.
func callInit(ctx context.Context, init loaders.Initializer, timeout time.Duration) (entries map[string][]byte, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("init panicked: %v", r)
		}
	}()
	return init.Init(ctx)
}
