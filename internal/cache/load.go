package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/loaders"
)

// ErrLoadFailed is returned by Load, wrapping the cause, when the loader
// failed (an error, a panic or the timeout) or returned a value refused
// (over MaxValueBytes). Failures are logged and never cached: the next
// miss loads again.
var ErrLoadFailed = errs.ErrLoadFailed

// ErrInterrupted is returned by Load when the loader failed because the
// node is stopping (its stopping context ended): not the key's fault, so
// the caller's op can move on to the key's next owner. The error wraps
// errs.ErrShutdown too.
var ErrInterrupted = errors.New("cache: load interrupted")

// LoadConfig is how Load calls a cache store's loader.
type LoadConfig struct {
	// Loader loads a key's value. Required.
	Loader loaders.Loader

	// Timeout bounds one loader call. It must be positive: a zero Timeout
	// fails every load at once.
	Timeout time.Duration

	// MaxValueBytes refuses a loaded value longer than this. Zero: no
	// bound.
	MaxValueBytes int

	// Logger receives a line for each failed load. Nil: no logs.
	Logger hclog.Logger
}

// Load calls lc.Loader for key under lc.Timeout, turning a panic into an
// error and logging failures (the caller never caches them). stopping is
// the node's context that ends when it stops: a loader error while it is
// done gives ErrInterrupted. A key the loader does not find gives
// Outcome{} with a nil Err. Any other failure, and a value over
// MaxValueBytes, give an Outcome whose Err wraps ErrLoadFailed. On success
// Load returns the loader's Extra entries too (nil otherwise); the value
// and the extra map are the loader's to give and become the caller's.
func Load(ctx, stopping context.Context, lc LoadConfig, key string) (out Outcome, extra map[string][]byte) {
	logger := lc.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	ctx, cancel := context.WithTimeout(ctx, lc.Timeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			out, extra = Outcome{Err: fmt.Errorf("%w: loader panicked: %v", ErrLoadFailed, r)}, nil
			logger.Error("loader panicked", "key", key, "panic", r)
		}
	}()
	res, err := lc.Loader.Load(ctx, key)
	switch {
	case errors.Is(err, loaders.ErrNotFound):
		return Outcome{}, nil
	case err != nil && stopping.Err() != nil:
		// The node is stopping: not the key's fault. The caller's op moves
		// to the next owner like one refused by a leaving node.
		return Outcome{Err: fmt.Errorf("%w: %w: load of %q: %w", errs.ErrShutdown, ErrInterrupted, key, err)}, nil
	case err != nil:
		logger.Error("load failed", "key", key, "error", err)
		return Outcome{Err: fmt.Errorf("%w: %w", ErrLoadFailed, err)}, nil
	case lc.MaxValueBytes > 0 && len(res.Value) > lc.MaxValueBytes:
		err := fmt.Errorf("%w: the loader returned %d bytes for %q, over the %d-byte limit (max_value_bytes)", ErrLoadFailed, len(res.Value), key, lc.MaxValueBytes)
		logger.Error("load refused", "key", key, "error", err)
		return Outcome{Err: err}, nil
	}
	return Outcome{Value: res.Value, Found: true}, res.Extra
}

// refreshConcurrency bounds the loads one refresh runs at once.
const refreshConcurrency = 8

// Refresh reloads every entry of c through load, running up to 8 loads at
// once on goroutines of its own, and returns when they all ended. A failed
// reload (an Outcome with an Err) keeps the old value; a key the loader no
// longer finds is dropped. A Set, Delete or TakePartition of a key during
// its reload wins over the reload (see Refreshed). extra, if not nil, is
// called with each successful reload's Extra entries when there are some,
// from several goroutines at once.
//
// Refresh returns how many reloads failed and how many entries it listed.
// When ctx ends it starts no more reloads and returns once those started
// have ended, with the failures counted so far.
func (c *Store) Refresh(ctx context.Context, load func(ctx context.Context, key string) (Outcome, map[string][]byte), extra func(map[string][]byte)) (failed, total int) {
	entries := c.List()
	sem := make(chan struct{}, refreshConcurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex // guards failed
loop:
	for _, e := range entries {
		if ctx.Err() != nil {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		wg.Go(func() {
			defer func() { <-sem }()
			out, more := load(ctx, e.Key)
			switch {
			case out.Err != nil:
				mu.Lock()
				failed++
				mu.Unlock()
			case !out.Found:
				c.Refreshed(e.Partition, e.Key, e.Entry, nil)
			default:
				c.Refreshed(e.Partition, e.Key, e.Entry, out.Value)
				if len(more) > 0 && extra != nil {
					extra(more)
				}
			}
		})
	}
	wg.Wait()
	return failed, len(entries)
}
