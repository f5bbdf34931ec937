package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hoard-dev/hoard/internal/proto"
)

// Flush flushes store ("" for every store) on this node now, whatever the
// interval, and waits for the sink. A flush already in flight is waited for
// first. Batches that fail every attempt are dead-lettered; the error then
// says so. Errors: ErrUnknownStore, ErrShutdown.
func (n *Node) Flush(ctx context.Context, store string) (FlushResult, error) {
	if n.isStopping() {
		return FlushResult{}, ErrShutdown
	}
	stores, err := n.selectStores(store)
	if err != nil {
		return FlushResult{}, err
	}
	var total FlushResult
	var errs []error
	for _, s := range stores {
		res, err := s.flush(ctx, false)
		total.Batches += res.Batches
		total.Keys += res.Keys
		total.DeadLettered += res.DeadLettered
		if err != nil {
			errs = append(errs, fmt.Errorf("store %s: %w", s.cfg.Name, err))
		}
	}
	return total, errors.Join(errs...)
}

// selectStores returns the named store, or every store for "", sorted by
// name.
func (n *Node) selectStores(name string) ([]*store, error) {
	if name != "" {
		s, err := n.store(name)
		if err != nil {
			return nil, err
		}
		return []*store{s}, nil
	}
	var out []*store
	for _, s := range n.stores {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *store) int {
		switch {
		case a.cfg.Name < b.cfg.Name:
			return -1
		case a.cfg.Name > b.cfg.Name:
			return 1
		}
		return 0
	})
	return out, nil
}

// flushRPC flushes here and, unless in.Local, on every other member of the
// ring, in parallel.
func (n *Node) flushRPC(ctx context.Context, in proto.FlushRequest) (proto.FlushResponse, error) {
	if _, err := n.selectStores(in.Store); err != nil {
		return proto.FlushResponse{}, err
	}
	local := func() proto.NodeFlush {
		res, err := n.Flush(ctx, in.Store)
		nf := proto.NodeFlush{Node: n.cfg.Name, Batches: res.Batches, Keys: res.Keys, DeadLettered: res.DeadLettered}
		if err != nil {
			nf.Error = err.Error()
		}
		return nf
	}
	if in.Local {
		return proto.FlushResponse{Nodes: []proto.NodeFlush{local()}}, nil
	}
	snap := n.cluster.Ring()
	if snap == nil {
		return proto.FlushResponse{}, ErrNoRing
	}
	var mu sync.Mutex // guards out
	var out proto.FlushResponse
	var wg sync.WaitGroup
	for _, m := range snap.Members() {
		if m.Name == n.cfg.Name {
			continue
		}
		wg.Go(func() {
			nf := proto.NodeFlush{Node: m.Name}
			var resp proto.FlushResponse
			conn, err := n.pool.Get(ctx, m.Addr)
			if err == nil {
				err = conn.Call(ctx, proto.MethodFlush, proto.FlushRequest{Store: in.Store, Local: true}, &resp)
			}
			switch {
			case err != nil:
				nf.Error = err.Error()
			case len(resp.Nodes) == 1:
				nf = resp.Nodes[0]
			}
			mu.Lock()
			out.Nodes = append(out.Nodes, nf)
			mu.Unlock()
		})
	}
	nf := local()
	wg.Wait()
	out.Nodes = append(out.Nodes, nf)
	slices.SortFunc(out.Nodes, func(a, b proto.NodeFlush) int {
		switch {
		case a.Node < b.Node:
			return -1
		case a.Node > b.Node:
			return 1
		}
		return 0
	})
	return out, nil
}

// DeadLetters lists this node's dead-lettered batches of store ("" for
// every store), oldest first per store. Errors: ErrUnknownStore, or a
// dead-letter directory that cannot be read.
func (n *Node) DeadLetters(store string) ([]DeadLetter, error) {
	stores, err := n.selectStores(store)
	if err != nil {
		return nil, err
	}
	var out []DeadLetter
	var errs []error
	for _, s := range stores {
		paths, err := n.dlq.paths(s.cfg.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, p := range paths {
			l, err := n.dlq.read(p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, DeadLetter{
				Store: l.Batch.Store, Batch: l.Batch.ID, Kind: string(l.Batch.Kind), Keys: l.Batch.Len(),
				Time: l.Time, Attempts: l.Attempts, Error: l.Error, Path: p,
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

// ReplayDeadLetters sends this node's dead-lettered batches of store ("" for
// every store) to the store's sink again, once each, with their original
// batch IDs, and removes each file only once the sink accepted it.
func (n *Node) ReplayDeadLetters(ctx context.Context, store string) (ReplayResult, error) {
	var res ReplayResult
	if n.isStopping() {
		return res, ErrShutdown
	}
	stores, err := n.selectStores(store)
	if err != nil {
		return res, err
	}
	for _, s := range stores {
		paths, err := n.dlq.paths(s.cfg.Name)
		if err != nil {
			return res, err
		}
		for _, p := range paths {
			l, err := n.dlq.read(p)
			if err != nil {
				res.Failed = append(res.Failed, fmt.Sprintf("%s: %v", filepath.Base(p), err))
				continue
			}
			s.flushMu.Lock()
			err = s.callSink(ctx, l.Batch)
			s.flushMu.Unlock()
			if err != nil {
				res.Failed = append(res.Failed, fmt.Sprintf("%s: %v", l.Batch.ID, err))
				continue
			}
			if err := os.Remove(p); err != nil {
				// The sink has it; a second replay would send it again with
				// the same batch ID, which deduplicating sinks ignore.
				res.Failed = append(res.Failed, fmt.Sprintf("%s: delivered, but the file stays: %v", l.Batch.ID, err))
				continue
			}
			_ = syncDir(filepath.Dir(p))
			s.stats.flushes.Add(1)
			n.logger.Info("dead letter replayed", "store", s.cfg.Name, "batch", l.Batch.ID, "keys", l.Batch.Len())
			res.Replayed = append(res.Replayed, l.Batch.ID)
		}
	}
	return res, nil
}

// StoreStats describes one store on one node.
type StoreStats struct {
	Name         string
	Kind         StoreKind
	Flushes      int64     // batches the sink accepted
	Failures     int64     // failed attempts
	DeadLettered int64     // batches sent to the dead-letter
	LastFlush    time.Time // zero if none yet
}

// Stats describes the node.
type Stats struct {
	// Unflushed is the number of ops acknowledged on this node and not yet
	// handed to a flush: what a crash of this node would lose now.
	Unflushed int64
	// AsyncLost counts async increments given up on.
	AsyncLost int64
	Stores    []StoreStats
}

// Stats returns the node's counters. Cheap: no locks beyond a map walk.
func (n *Node) Stats() Stats {
	st := Stats{Unflushed: n.exposed.Load(), AsyncLost: n.asyncLost.Load()}
	stores, _ := n.selectStores("")
	for _, s := range stores {
		ss := StoreStats{
			Name:         s.cfg.Name,
			Kind:         s.cfg.Kind,
			Flushes:      s.stats.flushes.Load(),
			Failures:     s.stats.failures.Load(),
			DeadLettered: s.stats.deadLettered.Load(),
		}
		if t := s.stats.lastFlush.Load(); t != 0 {
			ss.LastFlush = time.Unix(0, t)
		}
		st.Stores = append(st.Stores, ss)
	}
	return st
}
