package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/transport"
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
	ctx, cancel := n.untilStop(ctx)
	defer cancel()
	var total FlushResult
	var errs []error
	for _, s := range stores {
		res, err := s.flush(ctx, flushAll)
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
	slices.SortFunc(out, func(a, b *store) int { return strings.Compare(a.cfg.Name, b.cfg.Name) })
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
	var out proto.FlushResponse
	err := n.fanOut(ctx, func() { out.Nodes = append(out.Nodes, local()) },
		func(ctx context.Context, name string, conn *transport.Conn, err error) func() {
			var resp proto.FlushResponse
			if err == nil {
				err = conn.Call(ctx, proto.MethodFlush, proto.FlushRequest{Store: in.Store, Local: true}, &resp)
			}
			nf := proto.NodeFlush{Node: name}
			switch {
			case err != nil:
				nf.Error = err.Error()
			case len(resp.Nodes) == 1:
				nf = resp.Nodes[0]
			}
			return func() { out.Nodes = append(out.Nodes, nf) }
		})
	slices.SortFunc(out.Nodes, func(a, b proto.NodeFlush) int { return strings.Compare(a.Node, b.Node) })
	return out, err
}

// fanOut runs local here and remote for every other member of the ring, in
// parallel. Each returns a function that records its result; those run one
// at a time, so they need no lock.
func (n *Node) fanOut(ctx context.Context, local func(), remote func(ctx context.Context, name string, conn *transport.Conn, err error) func()) error {
	snap := n.cluster.Ring()
	if snap == nil {
		return ErrNoRing
	}
	var mu sync.Mutex // serializes the recorders
	var wg sync.WaitGroup
	for _, m := range snap.Members() {
		if m.Name == n.cfg.Name {
			continue
		}
		wg.Go(func() {
			conn, err := n.pool.Get(ctx, m.Addr)
			record := remote(ctx, m.Name, conn, err)
			mu.Lock()
			record()
			mu.Unlock()
		})
	}
	mu.Lock()
	local()
	mu.Unlock()
	wg.Wait()
	return nil
}

// Info describes store ("" for every store) on this node. Errors:
// ErrUnknownStore.
func (n *Node) Info(store string) ([]StoreInfo, error) {
	stores, err := n.selectStores(store)
	if err != nil {
		return nil, err
	}
	var out []StoreInfo
	for _, s := range stores {
		si := StoreInfo{
			Name:         s.cfg.Name,
			Kind:         s.cfg.Kind,
			Flushes:      s.stats.flushes.Load(),
			Failures:     s.stats.failures.Load(),
			DeadLettered: s.stats.deadLettered.Load(),
		}
		if t := s.stats.lastFlush.Load(); t != 0 {
			si.LastFlush = time.Unix(0, t)
		}
		switch {
		case s.buffers != nil:
			si.Keys, si.Values = s.buffers.stats()
			si.Bytes = s.buffers.held.Load()
		case s.counters != nil:
			si.Keys, si.Values = s.counters.stats()
		case s.caches != nil:
			si.Keys = int(s.caches.entries.Load())
		}
		out = append(out, si)
	}
	return out, nil
}

// StoreInfo describes one store on one node.
type StoreInfo struct {
	Name string
	Kind StoreKind
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
	LastFlush    time.Time // zero if none yet
}

func (n *Node) infoRPC(ctx context.Context, in proto.InfoRequest) (proto.InfoResponse, error) {
	if _, err := n.selectStores(in.Store); err != nil {
		return proto.InfoResponse{}, err
	}
	local := func() proto.NodeInfo {
		ni := proto.NodeInfo{Node: n.cfg.Name, Unflushed: n.exposed.Load()}
		infos, err := n.Info(in.Store)
		if err != nil {
			ni.Error = err.Error()
		}
		for _, si := range infos {
			ni.Stores = append(ni.Stores, proto.StoreInfo{
				Node: n.cfg.Name, Store: si.Name, Kind: string(si.Kind), Keys: si.Keys, Values: si.Values,
				Bytes: si.Bytes, Flushes: si.Flushes, Failures: si.Failures, DeadLettered: si.DeadLettered,
				LastFlush: si.LastFlush,
			})
		}
		return ni
	}
	if in.Local {
		return proto.InfoResponse{Nodes: []proto.NodeInfo{local()}}, nil
	}
	var out proto.InfoResponse
	err := n.fanOut(ctx, func() { out.Nodes = append(out.Nodes, local()) },
		func(ctx context.Context, name string, conn *transport.Conn, err error) func() {
			var resp proto.InfoResponse
			if err == nil {
				err = conn.Call(ctx, proto.MethodInfo, proto.InfoRequest{Store: in.Store, Local: true}, &resp)
			}
			ni := proto.NodeInfo{Node: name}
			switch {
			case err != nil:
				ni.Error = err.Error()
			case len(resp.Nodes) == 1:
				ni = resp.Nodes[0]
			}
			return func() { out.Nodes = append(out.Nodes, ni) }
		})
	slices.SortFunc(out.Nodes, func(a, b proto.NodeInfo) int { return strings.Compare(a.Node, b.Node) })
	return out, err
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
	ctx, cancel := n.untilStop(ctx)
	defer cancel()
	for _, s := range stores {
		if err := n.replayStore(ctx, s, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// replayStore replays one store's dead letters. It holds the store's flush
// lock throughout, so two replays never send the same file twice and no
// flush runs meanwhile.
func (n *Node) replayStore(ctx context.Context, s *store, res *ReplayResult) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.unlock()
	paths, err := n.dlq.paths(s.cfg.Name)
	if err != nil {
		return err
	}
	for _, p := range paths {
		l, err := n.dlq.read(p)
		if err != nil {
			res.Failed = append(res.Failed, fmt.Sprintf("%s: %v", filepath.Base(p), err))
			continue
		}
		if err := s.callSink(ctx, l.Batch); err != nil {
			res.Failed = append(res.Failed, fmt.Sprintf("%s: %v", l.Batch.ID, err))
			continue
		}
		if err := os.Remove(p); err != nil {
			// The sink has it; a second replay would send it again with the
			// same batch ID, which deduplicating sinks ignore.
			res.Failed = append(res.Failed, fmt.Sprintf("%s: delivered, but the file stays: %v", l.Batch.ID, err))
			continue
		}
		_ = syncDir(filepath.Dir(p))
		s.stats.flushes.Add(1)
		n.logger.Info("dead letter replayed", "store", s.cfg.Name, "batch", l.Batch.ID, "keys", l.Batch.Len())
		res.Replayed = append(res.Replayed, l.Batch.ID)
	}
	return nil
}

// Stats describes the node.
type Stats struct {
	// Unflushed is the number of ops (increments and inserts) acknowledged
	// on this node and not yet delivered to a sink or written to the
	// dead-letter: what a crash of this node would lose now.
	Unflushed int64
	// AsyncPending is the number of async sums (one per key) held on this
	// node, waiting for the next round to send them to their owners: a
	// crash of this node would lose them too.
	AsyncPending int
	// AsyncLost counts async increments given up on.
	AsyncLost int64
	// Forwarded counts the ops this node sent on to their owner, since it
	// started. A ring-aware client's ops need none.
	Forwarded int64
	// Rerouted counts forwarded ops an owner refused because its ring
	// differed, which this node then routed again.
	Rerouted int64
	Stores   []StoreInfo
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	stores, _ := n.Info("")
	return Stats{Unflushed: n.exposed.Load(), AsyncPending: n.async.pending(), AsyncLost: n.asyncLost.Load(), Forwarded: n.forwards.Load(), Rerouted: n.rerouted.Load(), Stores: stores}
}
