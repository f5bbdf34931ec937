package counter

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/ring"
)

// aggregatorShards spreads an Aggregator over locks.
const aggregatorShards = 64

// Aggregator pre-aggregates fire-and-forget increments on the node that
// received them (StatBuffer's async_increment): many increments of one key
// become one op to its owner each round. It is a Store keyed by store name
// and key. Safe for concurrent use.
type Aggregator struct {
	sums *Store
}

// Sum is one key's pending sum.
type Sum struct {
	Store, Key string
	Delta      int64
}

// NewAggregator returns an empty aggregator.
func NewAggregator() *Aggregator { return &Aggregator{sums: New(aggregatorShards)} }

// sumKey joins a store's name and a key; store names hold no NUL.
func sumKey(store, key string) (int, string) {
	k := store + "\x00" + key
	return ring.PartitionOf(aggregatorShards, k, ""), k
}

// Add folds delta into the pending sum of key of store. Errors:
// errs.ErrOverflow when the pending sum would overflow (nothing applied),
// errs.ErrShutdown after a final Send.
func (a *Aggregator) Add(store, key string, delta int64) error {
	p, k := sumKey(store, key)
	if _, err := a.sums.Add(p, k, delta, nil); err != nil {
		if errors.Is(err, errs.ErrOverflow) {
			return fmt.Errorf("%w: pending async increments of %q would overflow", errs.ErrOverflow, key)
		}
		return err
	}
	return nil
}

// Pending counts the sums waiting to be sent.
func (a *Aggregator) Pending() int { return a.sums.Len() }

// take swaps every pending sum out; a final take closes the aggregator.
func (a *Aggregator) take(final bool) []Sum {
	counts, _, _ := a.sums.Take(final, nil)
	out := make([]Sum, 0, len(counts))
	for _, c := range counts {
		store, key, _ := strings.Cut(c.Key, "\x00")
		out = append(out, Sum{Store: store, Key: key, Delta: c.Count})
	}
	return out
}

// Send hands every pending sum to route, which calls done exactly once
// with the outcome of applying it at its owner, and waits for the outcomes.
// A sum that was not applied is put back for the next round (even once the
// aggregator is closed: Drain takes it); one whose outcome is unknown
// (errs.ErrIndeterminate) may have been applied, so it is reported, never
// sent again. A final Send closes the aggregator first: later Adds fail.
// It returns how many sums were lost.
func (a *Aggregator) Send(final bool, route func(s Sum, done func(error)), logger hclog.Logger) (lost int) {
	pending := a.take(final)
	if len(pending) == 0 {
		return 0
	}
	var wg sync.WaitGroup
	var mu sync.Mutex // guards failed, lost, firstErr
	var failed int
	var firstErr error
	for _, sum := range pending {
		wg.Add(1)
		route(sum, func(err error) {
			defer wg.Done()
			if err == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if firstErr == nil {
				firstErr = err
			}
			if errors.Is(err, errs.ErrIndeterminate) {
				lost++
				logger.Error("async increment may not have been applied", "store", sum.Store, "key", sum.Key, "delta", sum.Delta, "error", err)
				return
			}
			p, k := sumKey(sum.Store, sum.Key)
			if err := a.sums.Return(p, k, sum.Delta); err != nil {
				lost++
				logger.Error("async increment lost", "store", sum.Store, "key", sum.Key, "delta", sum.Delta, "error", err)
				return
			}
			failed++
		})
	}
	wg.Wait()
	if failed > 0 {
		logger.Warn("async increments not applied yet; kept for the next round", "keys", failed, "error", firstErr)
	}
	return lost
}

// Drain closes the aggregator and hands what is still pending to apply,
// which keeps it in the node's own counters when it stops (counter deltas
// merge, so any node may flush them). It returns how many sums apply
// refused, each logged and joined into the error.
func (a *Aggregator) Drain(apply func(Sum) error, logger hclog.Logger) (lost int, err error) {
	var errs []error
	for _, sum := range a.take(true) {
		if err := apply(sum); err != nil {
			lost++
			logger.Error("async increment lost", "store", sum.Store, "key", sum.Key, "delta", sum.Delta, "error", err)
			errs = append(errs, fmt.Errorf("async increment of %q lost: %w", sum.Key, err))
		}
	}
	return lost, errors.Join(errs...)
}
