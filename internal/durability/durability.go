// Package durability keeps a node's acknowledged ops safe: it names the
// node's incarnation (its origin), owns its write-ahead log, sends the ops
// of replicated stores to their backups, holds the ops other nodes send it
// as their backup, and delivers what a crash or a member's failure left
// undelivered: the logs of earlier incarnations at start, a failed
// member's ops when the ring drops it.
//
//	k, err := durability.Open(durability.Config{Name: "n1", DataDir: dir, Logged: true, ...})
//	k.Add("pv", durability.Store{Replayer: rp, Replicas: 1, HandOff: pipe.HandOff})
//	k.Recover(ctx)                // before the node serves
//	host.Journal = k.Journal(1)   // the op.Journal of a replicated store
//	k.Watch(prev, snap)           // on every ring change
//	k.Close(ctx, true, exposed)   // after the final flush
package durability

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/cluster"
	"github.com/hoard-dev/hoard/internal/disk"
	"github.com/hoard-dev/hoard/internal/flush"
	"github.com/hoard-dev/hoard/internal/journal"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/internal/replica"
	"github.com/hoard-dev/hoard/ring"
	"github.com/hoard-dev/hoard/sinks"
	"github.com/hoard-dev/hoard/transport"
)

// Config configures a Keeper.
type Config struct {
	// Name is the node's name; DataDir holds its files.
	Name, DataDir string
	// Logged is set when a store acknowledges by the write-ahead log
	// (ack = "wal" or "replicated"): only then is one opened.
	Logged bool
	// SyncEvery is the logs' fsync policy: 0 before each acknowledgement,
	// otherwise this often (journal.Config.SyncEvery).
	SyncEvery time.Duration
	// Pool dials the backups.
	Pool *transport.Pool
	// Go runs f on a goroutine the node waits for on shutdown; false once
	// it is stopping.
	Go func(f func()) bool
	// Stopping ends when the node starts stopping: failovers give way.
	Stopping context.Context
	// Ring returns the current ring, nil before there is one; Members the
	// members the node knows.
	Ring    func() *ring.Snapshot
	Members func() []cluster.Member
	// DeadLetters holds the batches that could not be delivered.
	DeadLetters *flush.DeadLetters
	// Logger receives the keeper's logs; nil discards them.
	Logger hclog.Logger
}

// Store is what the Keeper needs of a counter or buffer store.
type Store struct {
	// Replayer delivers the store's ops read back from a log.
	Replayer journal.Replayer
	// Replicas is the backups its writes wait for (ack = "replicated");
	// 0 for the others.
	Replicas int
	// HandOff flushes the listed partitions at once (flush.Pipeline.HandOff).
	HandOff func(partitions []int)
}

// Keeper is one node's durability. Its methods are safe for concurrent
// use once the stores are added (Add, before the node serves).
type Keeper struct {
	cfg     Config
	logger  hclog.Logger
	origin  string
	journal *journal.Journal // nil when no store acknowledges by the log
	sender  *replica.Sender
	holder  *replica.Holder
	stores  map[string]Store // fixed once the node serves

	sendCtx    context.Context    // ends after the final flush's trims are out
	sendCancel context.CancelFunc // ends sendCtx

	failovers    atomic.Int64 // failover flushes done here
	lastFailover atomic.Int64 // unix nanos of the last one's end
}

// Open makes the data directory, names this incarnation (a new origin at
// each start: journal.NextOrigin) and opens its write-ahead log if
// cfg.Logged. Errors: the file system's.
func Open(cfg Config) (*Keeper, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	origin, err := journal.NextOrigin(cfg.DataDir, cfg.Name)
	if err != nil {
		return nil, err
	}
	k := &Keeper{cfg: cfg, logger: logger, origin: origin, stores: map[string]Store{}}
	if cfg.Logged {
		if k.journal, err = journal.Open(journal.Config{Root: k.walRoot(), Origin: origin, SyncEvery: cfg.SyncEvery, Logger: logger.Named("wal")}); err != nil {
			return nil, err
		}
		if err := disk.SyncDir(cfg.DataDir); err != nil { // the new wal directory's entry
			_ = k.journal.Close()
			return nil, err
		}
	}
	k.sendCtx, k.sendCancel = context.WithCancel(context.Background())
	k.sender = replica.NewSender(replica.SenderConfig{Origin: origin, Pool: cfg.Pool, Go: cfg.Go, Stopping: k.sendCtx, Logger: logger.Named("replica")})
	k.holder = replica.NewHolder(replica.HolderConfig{Root: filepath.Join(k.replicasRoot(), origin), SyncEvery: cfg.SyncEvery, Logger: logger.Named("replica")})
	return k, nil
}

// walRoot holds the write-ahead logs, one directory per origin.
func (k *Keeper) walRoot() string { return filepath.Join(k.cfg.DataDir, "wal") }

// replicasRoot holds, per incarnation of this node, the logs of the ops it
// holds for others.
func (k *Keeper) replicasRoot() string { return filepath.Join(k.cfg.DataDir, "replicas") }

// Origin names this incarnation's log: every op applied here gets a
// position under it.
func (k *Keeper) Origin() string { return k.origin }

// BatchID is the ID of a batch of this incarnation's ops of store.
func (k *Keeper) BatchID(store string, ranges []sinks.Range) string {
	return journal.BatchID(k.origin, store, ranges)
}

// Journal returns the op.Journal of a store acknowledging by the log
// (replicas 0) or replicated to replicas backups; nil without a log.
func (k *Keeper) Journal(replicas int) op.Journal {
	switch {
	case k.journal == nil:
		return nil
	case replicas == 0:
		return k.journal
	}
	return &replica.Log{Journal: k.journal, Sender: k.sender, Ring: k.cfg.Ring, Self: k.cfg.Name, Replicas: replicas}
}

// Overlap is the flush.Rebuild of a store's batches of this incarnation's
// ops, which rp delivers: a batch a failover partly applied is rebuilt from
// the log, op by op. Nil without a log.
func (k *Keeper) Overlap(rp journal.Replayer) flush.Rebuild {
	if k.journal == nil {
		return nil
	}
	return k.journal.Rebuilder(k.origin, k.cfg.Name, k.cfg.DeadLetters, rp)
}

// Add declares a counter or buffer store, before the node serves.
func (k *Keeper) Add(name string, s Store) { k.stores[name] = s }

// replayer returns how the store called name delivers ops read back from a
// log; false if it is not declared.
func (k *Keeper) replayer(name string) (journal.Replayer, bool) {
	s, ok := k.stores[name]
	return s.Replayer, ok
}

// Recover delivers, before the node serves, what the logs of earlier
// incarnations hold and the sinks have not applied: the node's own ops
// (journal.Recover), then those it held for others and did not deliver or
// drop.
func (k *Keeper) Recover(ctx context.Context) {
	journal.Recover(ctx, k.walRoot(), k.origin, k.cfg.Name, k.cfg.DeadLetters, k.replayer, k.logger.Named("wal"))
	replica.Recover(ctx, k.replicasRoot(), k.origin, func(ctx context.Context, root string) {
		journal.Recover(ctx, root, "", k.cfg.Name, k.cfg.DeadLetters, k.replayer, k.logger.Named("replica"))
	})
}

// Serve holds a frame of an owner's ops and applies its trims; done is
// called once the ops are in this node's replica log.
func (k *Keeper) Serve(in proto.ReplicateRequest, done func(error)) {
	k.holder.Hold(in.Origin, in.Ops, done)
	for _, t := range in.Trims {
		ranges := make([]sinks.Range, len(t.Ranges))
		for i, x := range t.Ranges {
			ranges[i] = sinks.Range{Partition: x.Partition, First: x.First, Last: x.Last}
		}
		k.holder.Trim(in.Origin, t.Store, ranges)
	}
}

// Watch follows a ring change (prev is the ring before, nil at the first):
// backups that left the ring are dropped (the ops waiting for them are
// answered), the partitions this node owns whose backups changed are
// handed off at once, so that no replica ever has to move, and the ops
// held for members that failed (or restarted under a new origin) are
// delivered, those of members that left gracefully dropped. The ops of an
// incarnation this node's membership has not heard of yet stay: it lives.
// A nil snap is a ring with no member (the last ones are leaving): every
// backup is dropped.
func (k *Keeper) Watch(prev, snap *ring.Snapshot) {
	k.sender.Prune(snap)
	if prev != nil && snap != nil {
		for _, s := range k.stores {
			if s.Replicas == 0 {
				continue
			}
			if changed := backupsChanged(prev, snap, k.cfg.Name, s.Replicas); len(changed) > 0 {
				s.HandOff(changed)
			}
		}
	}
	members := map[string]cluster.Member{}
	for _, m := range k.cfg.Members() {
		members[m.Name] = m
	}
	for _, origin := range k.holder.Origins() {
		m, known := members[journal.NodeOf(origin)]
		switch {
		case !known || (m.Origin != origin && !m.Learned.After(k.holder.FirstHeard(origin))):
			// This node has not heard of that incarnation yet, only of an
			// earlier one (or none): the incarnation sent its ops as soon as
			// its own ring held this node, before its join reached this
			// node's membership. It lives and flushes its ops itself.
		case m.Origin != origin:
			// A later incarnation of the node, heard of after this one's
			// first frame: this one ended without this node hearing that
			// it left (a crash, then a restart), and some of its ops were
			// never trimmed.
			if k.holder.Held(origin) > 0 {
				k.cfg.Go(func() { k.failover(origin, "member restarted") })
			}
		case m.Status == cluster.StatusAlive:
			// Its owner lives and flushes its ops itself.
		case m.Status == cluster.StatusLeft:
			if err := k.holder.Drop(origin); err != nil {
				k.logger.Warn("cannot remove the replica log of a member that left", "origin", origin, "error", err)
			}
		default:
			if k.holder.Held(origin) > 0 {
				k.cfg.Go(func() { k.failover(origin, "member failed") })
			}
		}
	}
}

// backupsChanged lists the partitions name owns in next, and owned in
// prev, whose first replicas backups differ between the two.
func backupsChanged(prev, next *ring.Snapshot, name string, replicas int) []int {
	if prev.Partitions() != next.Partitions() {
		return nil // every partition moved: the owners hand them off
	}
	first := func(s *ring.Snapshot, p int) []string {
		var out []string
		for _, b := range s.Backups(p) {
			if len(out) < replicas {
				out = append(out, b.Name)
			}
		}
		return out
	}
	var changed []int
	for _, p := range next.PartitionsOf(name) {
		if prev.Owns(name, p) && !slices.Equal(first(prev, p), first(next, p)) {
			changed = append(changed, p)
		}
	}
	return changed
}

// failover delivers the ops this node holds of origin, whose node failed
// (why says how it ended):
// each store's as one batch under origin, without what the sink applied
// already (a position-recording sink decides, whoever delivered first).
// What cannot be delivered now is tried again until the node stops; then
// its log stays for the next start.
func (k *Keeper) failover(origin, why string) {
	recs, ok := k.holder.Take(origin)
	if !ok {
		return
	}
	start := time.Now()
	k.logger.Warn(why+": delivering the ops held for it", "origin", origin)
	ctx := k.cfg.Stopping
	var delivered, keys int64
	for name, ops := range recs {
		s, ok := k.stores[name]
		if !ok {
			k.logger.Error("ops held for a failed member belong to a store not declared here; they stay in the replica log", "origin", origin, "store", name, "ops", len(ops))
			return
		}
		for attempt := 1; ; attempt++ {
			n, b, err := journal.Deliver(ctx, origin, name, k.cfg.Name, ops, k.cfg.DeadLetters, s.Replayer)
			if err == nil || errors.Is(err, flush.ErrDeadLettered) {
				delivered += n
				keys += int64(b.Len())
				if err != nil {
					k.logger.Error("failover batch dead-lettered", "origin", origin, "store", name, "batch", b.ID, "error", err)
				}
				break
			}
			k.logger.Error("failover delivery failed; trying again", "origin", origin, "store", name, "attempt", attempt, "error", err)
			if !flush.Sleep(ctx, s.Replayer.RetryDelay*time.Duration(min(attempt, 10))) {
				k.logger.Error("failover cut short by the node stopping; the replica log stays for the next start", "origin", origin)
				return
			}
		}
	}
	if err := k.holder.Release(origin); err != nil {
		k.logger.Warn("cannot remove a delivered replica log", "origin", origin, "error", err)
	}
	k.failovers.Add(1)
	k.lastFailover.Store(time.Now().UnixNano())
	k.logger.Warn("failover flush done", "origin", origin, "ops", delivered, "keys", keys, "took", time.Since(start))
}

// Close ends the keeper's work. After a graceful stop (the final flush
// done, exposed ops left unflushed) it removes the log if nothing in it is
// still needed, waits (within ctx) until the trims of the final flush are
// out, and removes the replica logs of members that still live (they flush
// their ops themselves); the others stay for the next start, those of an
// incarnation the membership has not heard of yet included (no loss if its
// owner is lost meanwhile; a sink without positions may get them twice).
// After a crash (not graceful) every log stays.
func (k *Keeper) Close(ctx context.Context, graceful bool, exposed int64) error {
	var errs []error
	if k.journal != nil {
		err := k.journal.Close()
		if err == nil && graceful && exposed == 0 {
			err = journal.Discard(k.walRoot(), k.origin)
		}
		errs = append(errs, err)
	}
	if graceful {
		k.sender.Drain(ctx)
	}
	k.sendCancel()
	k.sender.Close()
	alive := map[string]bool{}
	if graceful {
		for _, m := range k.cfg.Members() {
			if m.Status == cluster.StatusAlive {
				alive[m.Origin] = true
			}
		}
	}
	errs = append(errs, k.holder.Close(func(origin string) bool { return !alive[origin] }))
	return errors.Join(errs...)
}

// Stats counts what the keeper holds and did.
type Stats struct {
	WALBytes     int64     // the size of this incarnation's write-ahead log
	ReplicaOps   int64     // ops held for the members this node backs up
	Failovers    int64     // failover flushes done here
	LastFailover time.Time // the last one's end; zero if none
}

// Stats returns the keeper's counters.
func (k *Keeper) Stats() Stats {
	st := Stats{ReplicaOps: k.holder.Ops(), Failovers: k.failovers.Load()}
	if k.journal != nil {
		st.WALBytes = k.journal.Size()
	}
	if t := k.lastFailover.Load(); t != 0 {
		st.LastFailover = time.Unix(0, t)
	}
	return st
}
