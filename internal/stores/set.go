package stores

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/flush"
	"github.com/hoard-dev/hoard/internal/proto"
)

// Set is a node's stores, fixed once built: safe for concurrent use.
type Set struct {
	byName map[string]*Store
	sorted []*Store // by name
	dlq    *flush.DeadLetters
}

// NewSet builds the stores cfgs declare (see New), sharing d.
func NewSet(cfgs []Config, d Deps) *Set {
	set := &Set{byName: make(map[string]*Store, len(cfgs)), dlq: d.DeadLetters}
	for _, c := range cfgs {
		s := New(c, d)
		set.byName[c.Name] = s
		set.sorted = append(set.sorted, s)
	}
	slices.SortFunc(set.sorted, func(a, b *Store) int { return strings.Compare(a.Config.Name, b.Config.Name) })
	return set
}

// Get returns the named store. Errors: errs.ErrUnknownStore (wrapped).
func (set *Set) Get(name string) (*Store, error) {
	s, ok := set.byName[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", errs.ErrUnknownStore, name)
	}
	return s, nil
}

// All returns every store, sorted by name. The slice is the set's: read it,
// do not modify it.
func (set *Set) All() []*Store { return set.sorted }

// Select returns the named store, or every store for "", sorted by name.
// Errors: errs.ErrUnknownStore (wrapped).
func (set *Set) Select(name string) ([]*Store, error) {
	if name == "" {
		return set.sorted, nil
	}
	s, err := set.Get(name)
	if err != nil {
		return nil, err
	}
	return []*Store{s}, nil
}

// Flush flushes store ("" for every store) now and waits for the sink;
// a flush already in flight is waited for first. The errors of the stores
// are joined, each naming its store.
func (set *Set) Flush(ctx context.Context, store string) (flush.Result, error) {
	stores, err := set.Select(store)
	if err != nil {
		return flush.Result{}, err
	}
	var total flush.Result
	var errs []error
	for _, s := range stores {
		res, err := s.flush(ctx, flush.All)
		total.Add(res)
		if err != nil {
			errs = append(errs, fmt.Errorf("store %s: %w", s.Config.Name, err))
		}
	}
	return total, errors.Join(errs...)
}

// Info describes one store on one node.
type Info struct {
	Name string
	Kind Kind
	// Keys held, not yet flushed.
	Keys int
	// Values held (buffers), or increments held (counters).
	Values int64
	// Bytes held by a buffer store, batches being flushed included: what
	// MaxBytes bounds.
	Bytes        int64
	Flushes      int64     // batches the sink accepted
	Failures     int64     // failed attempts
	DeadLettered int64     // batches sent to the dead-letter
	Overlaps     int64     // batches a failover had partly applied, rebuilt op by op
	LastFlush    time.Time // zero if none yet
}

// Info describes store ("" for every store).
func (set *Set) Info(store string) ([]Info, error) {
	stores, err := set.Select(store)
	if err != nil {
		return nil, err
	}
	var out []Info
	for _, s := range stores {
		si := Info{Name: s.Config.Name, Kind: s.Config.Kind}
		if s.pipe != nil {
			st := s.pipe.Stats()
			si.Flushes, si.Failures, si.DeadLettered, si.Overlaps, si.LastFlush = st.Flushes, st.Failures, st.DeadLettered, st.Overlaps, st.LastFlush
		}
		si.Keys, si.Values, si.Bytes = s.Engine.Stats()
		out = append(out, si)
	}
	return out, nil
}

// DeadLetters lists the dead-lettered batches of store ("" for every
// store), store by store, in batch ID order (see flush.DeadLetters.Paths).
// Errors: errs.ErrUnknownStore, or a dead-letter directory that cannot be
// read.
func (set *Set) DeadLetters(store string) ([]proto.DeadLetter, error) {
	stores, err := set.Select(store)
	if err != nil {
		return nil, err
	}
	var out []proto.DeadLetter
	var errs []error
	for _, s := range stores {
		letters, paths, err := set.dlq.List(s.Config.Name)
		errs = append(errs, err)
		for i, l := range letters {
			out = append(out, proto.DeadLetter{
				Store: l.Batch.Store, Batch: l.Batch.ID, Kind: string(l.Batch.Kind), Keys: l.Batch.Len(),
				Time: l.Time, Attempts: l.Attempts, Error: l.Error, Path: paths[i],
			})
		}
	}
	return out, errors.Join(errs...)
}

// ReplayResult says what a replay did.
type ReplayResult struct {
	Replayed []string // batch IDs the sink accepted; their files are removed
	Failed   []string // "batch: error" for those still dead-lettered
}

// Replay sends the dead-lettered batches of store ("" for every store) to
// the store's sink again, once each (flush.Pipeline.Replay), stopping at
// the first store whose replay fails as a whole.
func (set *Set) Replay(ctx context.Context, store string) (ReplayResult, error) {
	var res ReplayResult
	stores, err := set.Select(store)
	if err != nil {
		return res, err
	}
	for _, s := range stores {
		if s.pipe == nil {
			continue
		}
		replayed, failed, err := s.pipe.Replay(ctx)
		res.Replayed = append(res.Replayed, replayed...)
		res.Failed = append(res.Failed, failed...)
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// AwaitHandOffs waits until every cache entry handed over so far has been
// answered by its new owner (taken or refused), or ctx ends: a leaving
// node calls it before it closes its router, which would drop what is
// still on its way. Each hand-off ends within the router's op timeout.
func (set *Set) AwaitHandOffs(ctx context.Context) error {
	for _, s := range set.sorted {
		if ch := s.handOffsAnswered(); ch != nil {
			select {
			case <-ch:
			case <-ctx.Done():
				return fmt.Errorf("stores: cache entries of %s still being handed over: %w", s.Config.Name, ctx.Err())
			}
		}
	}
	return nil
}
