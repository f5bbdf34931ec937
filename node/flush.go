package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hoard-dev/hoard/internal/flush"
	"github.com/hoard-dev/hoard/internal/proto"
)

// FlushResult says what one flush of one store did: batches the sink
// accepted, keys in them, batches sent to the dead-letter.
type FlushResult = flush.Result

// Flush flushes store ("" for every store) on this node now, whatever the
// interval, and waits for the sink. A flush already in flight is waited for
// first. Batches that fail every attempt are dead-lettered; the error then
// says so (ErrDeadLettered). Errors: ErrUnknownStore, ErrShutdown.
func (n *Node) Flush(ctx context.Context, store string) (FlushResult, error) {
	if n.refusing() {
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
		res, err := s.flush(ctx, flush.All)
		total.Add(res)
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
	Overlaps     int64     // batches a failover had partly applied, rebuilt op by op
	LastFlush    time.Time // zero if none yet
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
		si := StoreInfo{Name: s.cfg.Name, Kind: s.cfg.Kind}
		if s.pipe != nil {
			st := s.pipe.Stats()
			si.Flushes, si.Failures, si.DeadLettered, si.Overlaps, si.LastFlush = st.Flushes, st.Failures, st.DeadLettered, st.Overlaps, st.LastFlush
		}
		si.Keys, si.Values, si.Bytes = s.eng.Stats()
		out = append(out, si)
	}
	return out, nil
}

// DeadLetter describes one dead-lettered batch: its store, batch ID, kind
// and keys, when it was dead-lettered (Time), after how many attempts, the
// last error, and the file that holds it (Path).
type DeadLetter = proto.DeadLetter

// DeadLetters lists this node's dead-lettered batches of store ("" for
// every store), store by store, in batch ID order (see
// flush.DeadLetters.Paths). Errors: ErrUnknownStore, or a dead-letter
// directory that cannot be read.
func (n *Node) DeadLetters(store string) ([]DeadLetter, error) {
	stores, err := n.selectStores(store)
	if err != nil {
		return nil, err
	}
	var out []DeadLetter
	var errs []error
	for _, s := range stores {
		letters, paths, err := n.dlq.List(s.cfg.Name)
		errs = append(errs, err)
		for i, l := range letters {
			out = append(out, DeadLetter{
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

// ReplayDeadLetters sends this node's dead-lettered batches of store ("" for
// every store) to the store's sink again, once each, with their original
// batch IDs, and removes each file only once the sink accepted it. A replay
// holds the store's flush lock, so two replays never send the same file
// twice and no flush runs meanwhile.
func (n *Node) ReplayDeadLetters(ctx context.Context, store string) (ReplayResult, error) {
	var res ReplayResult
	if n.refusing() {
		return res, ErrShutdown
	}
	stores, err := n.selectStores(store)
	if err != nil {
		return res, err
	}
	ctx, cancel := n.untilStop(ctx)
	defer cancel()
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
	// WALBytes is the size of the node's write-ahead log: the ops of the
	// stores with Ack = AckWAL that their sinks do not have yet.
	WALBytes int64
	// ReplicaOps is the number of ops this node holds for the members whose
	// partitions it backs up (ack = replicated), not yet flushed by them.
	ReplicaOps int64
	// Failovers counts the failover flushes this node did: the ops it held
	// for a member declared failed, delivered under that member's origin.
	Failovers int64
	// LastFailover is when the last one ended; zero if none.
	LastFailover time.Time
	Stores       []StoreInfo
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	st := n.counters()
	st.Stores, _ = n.Info("")
	return st
}

// counters is Stats without the stores'.
func (n *Node) counters() Stats {
	ks := n.keeper.Stats()
	return Stats{Unflushed: n.exposed.Load(), AsyncPending: n.async.Pending(), AsyncLost: n.asyncLost.Load(), Forwarded: n.router.Forwarded(), Rerouted: n.router.Rerouted(),
		WALBytes: ks.WALBytes, ReplicaOps: ks.ReplicaOps, Failovers: ks.Failovers, LastFailover: ks.LastFailover}
}
