package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/loaders"
)

// ErrLoadFailed is returned by Fetch when the store's loader failed. The
// failure is logged on the owner and not cached: the next miss loads again.
var ErrLoadFailed = errors.New("node: load failed")

func isCacheOp(kind uint8) bool {
	return kind >= proto.OpGet && kind <= proto.OpDelete
}

// FetchResult is what Fetch found.
type FetchResult struct {
	Value  []byte
	Found  bool // false: the loader said the key does not exist
	Loaded bool // the value came from the loader (a miss), not the cache
}

// Get returns key's value from a cache store, loading it through the
// store's loader on a miss, at the key's owner (DataWorker's get). A loader
// error is logged there and reported here as not found. Errors: those of
// Incr for the store and key, not the loader's.
func (n *Node) Get(ctx context.Context, store, key string) ([]byte, bool, error) {
	r, err := n.Fetch(ctx, store, key)
	if errors.Is(err, ErrLoadFailed) {
		return nil, false, nil
	}
	return r.Value, r.Found, err
}

// Fetch is Get that says whether the value came from the cache or a load,
// and returns the loader's error wrapped in ErrLoadFailed (DataWorker's
// fetch). Concurrent misses of one key share one load at the owner. On a
// hit at this node the value is the cache's own: read it, do not modify it.
func (n *Node) Fetch(ctx context.Context, store, key string) (FetchResult, error) {
	r, err := n.do(ctx, &op{kind: proto.OpFetch}, store, key)
	return fetchResult(r), err
}

func fetchResult(r opResult) FetchResult {
	fr := FetchResult{Found: r.count&proto.FlagFound != 0, Loaded: r.count&proto.FlagLoaded != 0}
	if len(r.values) > 0 {
		fr.Value = r.values[0]
	}
	return fr
}

// Set stores value for key in a cache store at its owner, without the
// loader (DataWorker's direct_set). The value is copied.
func (n *Node) Set(ctx context.Context, store, key string, value []byte) error {
	if len(value) > n.cfg.MaxValueBytes {
		return fmt.Errorf("%w: a value of %d bytes is over the %d-byte limit (max_value_bytes)", ErrInvalidValue, len(value), n.cfg.MaxValueBytes)
	}
	_, err := n.do(ctx, &op{kind: proto.OpSet, values: [][]byte{append([]byte(nil), value...)}}, store, key)
	return err
}

// Delete removes key from a cache store at its owner; it reports whether
// there was an entry.
func (n *Node) Delete(ctx context.Context, store, key string) (bool, error) {
	r, err := n.do(ctx, &op{kind: proto.OpDelete}, store, key)
	return r.count != 0, err
}

// cacheOp runs a cache op at the owner. A miss loads the key and calls
// done when the load ends.
func (n *Node) cacheOp(o *op, p int, done func(opResult)) {
	c := o.store.caches
	switch o.kind {
	case proto.OpSet:
		if len(o.values) != 1 {
			done(opResult{err: fmt.Errorf("%w: set takes one value", ErrInvalidValue)})
			return
		}
		c.set(p, o.key, o.values[0])
		done(opResult{})
	case proto.OpDelete:
		var res opResult
		if c.delete(p, o.key) {
			res.count = 1
		}
		done(res)
	case proto.OpGet, proto.OpFetch:
		if v, ok := c.get(p, o.key); ok {
			done(opResult{values: [][]byte{v}, count: proto.FlagFound})
			return
		}
		kind := o.kind
		v, hit, first := c.startLoad(p, o.key, func(out loadOutcome) {
			switch {
			case errors.Is(out.err, ErrLoadFailed) && kind == proto.OpGet:
				done(opResult{count: proto.FlagLoaded}) // Get reads a failed load as not found
			case out.err != nil:
				done(opResult{err: out.err})
			case !out.found:
				done(opResult{count: proto.FlagLoaded})
			default:
				done(opResult{values: [][]byte{out.value}, count: proto.FlagFound | proto.FlagLoaded})
			}
		})
		switch {
		case hit:
			done(opResult{values: [][]byte{v}, count: proto.FlagFound})
		case first:
			n.runLoad(o.store, p, o.key)
		}
	}
}

// runLoad loads key of store into partition p on a goroutine of its own
// and hands the outcome to every caller waiting on it.
func (n *Node) runLoad(s *store, p int, key string) {
	if !n.goFunc(func() {
		out, extra := s.callLoader(n.loopCtx, key)
		s.caches.finishLoad(p, key, out, !s.cfg.SkipSave)
		if len(extra) > 0 && !s.cfg.SkipSave {
			n.setExtra(s, extra)
		}
	}) {
		s.caches.finishLoad(p, key, loadOutcome{err: ErrShutdown}, false)
	}
}

// callLoader calls the store's loader under LoadTimeout, turning a panic
// into an error and logging failures (never caching them).
func (s *store) callLoader(ctx context.Context, key string) (out loadOutcome, extra map[string][]byte) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.LoadTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			out = loadOutcome{err: fmt.Errorf("%w: loader panicked: %v", ErrLoadFailed, r)}
			s.logger.Error("loader panicked", "key", key, "panic", r)
		}
	}()
	res, err := s.cfg.Loader.Load(ctx, key)
	switch {
	case errors.Is(err, loaders.ErrNotFound):
		return loadOutcome{}, nil
	case err != nil && s.n.loopCtx.Err() != nil:
		// The node is stopping: not the key's fault. The caller's op moves
		// to the next owner like one refused by a leaving node.
		return loadOutcome{err: fmt.Errorf("%w: load of %q interrupted", ErrShutdown, key)}, nil
	case err != nil:
		s.logger.Error("load failed", "key", key, "error", err)
		return loadOutcome{err: fmt.Errorf("%w: %w", ErrLoadFailed, err)}, nil
	case len(res.Value) > s.n.cfg.MaxValueBytes:
		err := fmt.Errorf("%w: the loader returned %d bytes for %q, over the %d-byte limit (max_value_bytes)", ErrLoadFailed, len(res.Value), key, s.n.cfg.MaxValueBytes)
		s.logger.Error("load refused", "key", key, "error", err)
		return loadOutcome{err: err}, nil
	}
	return loadOutcome{value: res.Value, found: true}, res.Extra
}

// setExtra stores a load's extra entries, each at its own owner.
func (n *Node) setExtra(s *store, extra map[string][]byte) {
	deadline := time.Now().Add(defaultOpTimeout)
	for k, v := range extra {
		if err := checkKey(s.cfg.Name, k); err != nil {
			s.logger.Warn("loader returned an extra entry with an invalid key; skipped", "key", k, "error", err)
			continue
		}
		if len(v) > n.cfg.MaxValueBytes {
			s.logger.Warn("loader returned an extra entry over max_value_bytes; skipped", "key", k, "bytes", len(v))
			continue
		}
		o := &op{kind: proto.OpSet, store: s, key: k, values: [][]byte{v}, deadline: deadline, cancel: n.loopCtx.Done()}
		o.done = func(r opResult) {
			if r.err != nil {
				s.logger.Warn("could not cache a loader's extra entry", "key", k, "error", r.err)
			}
		}
		n.route(o)
	}
}

// cacheLoop refreshes, sweeps and dumps a cache store until ctx ends.
func (s *store) cacheLoop(ctx context.Context) {
	tick := time.Minute
	if s.cfg.RefreshInterval > 0 {
		tick = min(tick, s.cfg.RefreshInterval)
	}
	if s.cfg.TTL > 0 {
		tick = min(tick, max(s.cfg.TTL/4, 10*time.Millisecond))
	}
	if s.cfg.Dump {
		tick = min(tick, s.cfg.DumpInterval)
	}
	lastRefresh, lastDump := time.Now(), time.Now()
	t := time.NewTimer(jitter(tick))
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		now := time.Now()
		s.caches.sweep()
		if s.cfg.RefreshInterval > 0 && now.Sub(lastRefresh) >= s.cfg.RefreshInterval {
			s.refresh(ctx)
			lastRefresh = time.Now()
		}
		if s.cfg.Dump && now.Sub(lastDump) >= s.cfg.DumpInterval {
			if err := s.writeDump(); err != nil {
				s.logger.Error("cache dump failed", "error", err)
			}
			lastDump = time.Now()
		}
		t.Reset(jitter(tick))
	}
}

// refreshConcurrency bounds the loads one refresh runs at once.
const refreshConcurrency = 8

// refresh reloads every key this node holds. A failed reload keeps the old
// value and logs; a key the loader no longer finds is dropped. A Set,
// Delete or hand-off of a key during its reload wins over the reload.
func (s *store) refresh(ctx context.Context) {
	entries := s.caches.list()
	sem := make(chan struct{}, refreshConcurrency)
	var wg sync.WaitGroup
	failed := 0
	var mu sync.Mutex // guards failed
	for _, e := range entries {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			out, extra := s.callLoader(ctx, e.Key)
			switch {
			case out.err != nil:
				mu.Lock()
				failed++
				mu.Unlock()
			case !out.found:
				s.caches.refreshed(e.Partition, e.Key, e.Entry, nil)
			default:
				s.caches.refreshed(e.Partition, e.Key, e.Entry, out.value)
				if len(extra) > 0 {
					s.n.setExtra(s, extra)
				}
			}
		})
	}
	wg.Wait()
	if failed > 0 {
		s.logger.Warn("refresh kept old values for keys whose reload failed", "failed", failed, "keys", len(entries))
	}
}

// dropLost drops the cache entries of partitions this node no longer owns:
// their new owners load them on a miss.
func (n *Node) dropLost(partitions []int) {
	for _, s := range n.stores {
		if s.caches == nil {
			continue
		}
		dropped := 0
		for _, p := range partitions {
			dropped += s.caches.dropPartition(p)
		}
		if dropped > 0 {
			s.logger.Debug("dropped cache entries of partitions moved away", "entries", dropped, "partitions", len(partitions))
		}
	}
}

// waitForPeers gives a node that just joined a moment to see its peers in
// its ring, so what it does next (seeding caches) routes by the cluster's
// ring rather than a ring of one. It gives up after two seconds or at ctx.
func (n *Node) waitForPeers(ctx context.Context) {
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	for {
		snap, changed := n.cluster.Watch()
		if snap != nil && len(snap.Members()) > 1 {
			return
		}
		select {
		case <-changed:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// seedCaches asks each cache store's loader, if it is a
// loaders.Initializer, for initial entries (DataWorker's init) and sets
// each at its owner. An init error is logged and start-up goes on, unless
// it wraps loaders.ErrStopStart.
func (n *Node) seedCaches(ctx context.Context) error {
	for _, s := range n.stores {
		init, ok := s.cfg.Loader.(loaders.Initializer)
		if s.caches == nil || !ok {
			continue
		}
		entries, err := callInit(ctx, init, s.cfg.LoadTimeout)
		if errors.Is(err, loaders.ErrStopStart) {
			return fmt.Errorf("node: cache %s: loader init asked to stop start-up: %w", s.cfg.Name, err)
		}
		if err != nil {
			s.logger.Error("cache init failed; starting without its entries", "error", err)
			continue
		}
		var wg sync.WaitGroup
		for k, v := range entries {
			if err := checkKey(s.cfg.Name, k); err != nil {
				s.logger.Warn("init returned an invalid key; skipped", "key", k, "error", err)
				continue
			}
			if len(v) > n.cfg.MaxValueBytes {
				s.logger.Warn("init returned a value over max_value_bytes; skipped", "key", k, "bytes", len(v))
				continue
			}
			wg.Add(1)
			o := &op{kind: proto.OpSet, store: s, key: k, values: [][]byte{v}, deadline: deadlineOf(ctx)}
			o.done = func(r opResult) {
				defer wg.Done()
				if r.err != nil {
					s.logger.Warn("could not seed a cache entry", "key", k, "error", r.err)
				}
			}
			n.route(o)
		}
		wg.Wait()
		s.logger.Info("cache seeded", "entries", len(entries))
	}
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

// handOff flushes at once what the counter and buffer stores hold for
// partitions this node lost: their new owners start empty, and the sink
// receives both sides' data (counter deltas and buffer appends merge).
func (n *Node) handOff(partitions []int) {
	for _, s := range n.stores {
		if s.caches != nil {
			continue
		}
		n.goFunc(func() {
			res, err := s.flushParts(n.loopCtx, flushAll, partitions)
			if err != nil && n.loopCtx.Err() == nil {
				s.logger.Error("hand-off flush failed", "partitions", len(partitions), "error", err)
			} else if res.Keys > 0 {
				s.logger.Info("flushed partitions handed off", "partitions", len(partitions), "keys", res.Keys)
			}
		})
	}
}
