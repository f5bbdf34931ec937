package node

import (
	"context"
	"time"

	"github.com/hoard-dev/hoard/internal/flush"
	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/internal/stores"
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
	ctx, cancel := n.untilStop(ctx)
	defer cancel()
	return n.stores.Flush(ctx, store)
}

// StoreInfo describes one store on one node: keys, values and bytes held,
// batches flushed, failed, dead-lettered and rebuilt, the last flush.
type StoreInfo = stores.Info

// Info describes store ("" for every store) on this node. Errors:
// ErrUnknownStore.
func (n *Node) Info(store string) ([]StoreInfo, error) { return n.stores.Info(store) }

// DeadLetter describes one dead-lettered batch: its store, batch ID, kind
// and keys, when it was dead-lettered (Time), after how many attempts, the
// last error, and the file that holds it (Path).
type DeadLetter = proto.DeadLetter

// DeadLetters lists this node's dead-lettered batches of store ("" for
// every store), store by store, in batch ID order (see
// flush.DeadLetters.Paths). Errors: ErrUnknownStore, or a dead-letter
// directory that cannot be read.
func (n *Node) DeadLetters(store string) ([]DeadLetter, error) { return n.stores.DeadLetters(store) }

// ReplayResult says what a replay did: the batch IDs the sink accepted
// (Replayed; their files are removed) and "batch: error" for those still
// dead-lettered (Failed).
type ReplayResult = stores.ReplayResult

// ReplayDeadLetters sends this node's dead-lettered batches of store ("" for
// every store) to the store's sink again, once each, with their original
// batch IDs, and removes each file only once the sink accepted it. A replay
// holds the store's flush lock, so two replays never send the same file
// twice and no flush runs meanwhile. Errors: ErrUnknownStore, ErrShutdown.
func (n *Node) ReplayDeadLetters(ctx context.Context, store string) (ReplayResult, error) {
	if n.refusing() {
		return ReplayResult{}, ErrShutdown
	}
	ctx, cancel := n.untilStop(ctx)
	defer cancel()
	return n.stores.Replay(ctx, store)
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
