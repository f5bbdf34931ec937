package node

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hoard-dev/hoard/cluster"
	"github.com/hoard-dev/hoard/internal/flush"
	"github.com/hoard-dev/hoard/internal/journal"
	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/internal/replica"
	"github.com/hoard-dev/hoard/ring"
	"github.com/hoard-dev/hoard/sinks"
	"github.com/hoard-dev/hoard/transport"
)

// replicasRoot holds, per incarnation of this node, the logs of the ops it
// holds for others.
func (n *Node) replicasRoot() string { return filepath.Join(n.cfg.DataDir, "replicas") }

// startReplication makes the sender of this node's ops to its backups and
// the holder of others' ops.
func (n *Node) startReplication() {
	n.sendCtx, n.sendCancel = context.WithCancel(context.Background())
	n.sender = replica.NewSender(replica.SenderConfig{
		Origin: n.origin, Pool: n.pool, Go: n.goFunc, Stopping: n.sendCtx, Logger: n.logger.Named("replica"),
	})
	sync := n.cfg.WALSync
	if sync == WALSyncAlways {
		sync = 0
	}
	n.holder = replica.NewHolder(replica.HolderConfig{
		Root: filepath.Join(n.replicasRoot(), n.origin), SyncEvery: sync, Logger: n.logger.Named("replica"),
	})
}

// replicaLog is the op.Journal of a store acknowledging replicated.
func (n *Node) replicaLog(s StoreConfig) *replica.Log {
	return &replica.Log{Journal: n.journal, Sender: n.sender, Ring: n.ring, Self: n.cfg.Name, Replicas: s.Replicas}
}

// ring is the current ring, nil before the cluster runs.
func (n *Node) ring() *ring.Snapshot {
	if n.cluster == nil {
		return nil
	}
	return n.cluster.Ring()
}

// replayer is how a store delivers ops read back from a log.
func (s *store) replayer() journal.Replayer {
	return journal.Replayer{Sink: s.cfg.Sink, RetryMax: s.cfg.RetryMax, RetryDelay: s.cfg.RetryDelay, Deliver: s.pipe.Deliver}
}

// serveReplicate holds a frame of an owner's ops and applies its trims,
// answering once the ops are in this node's replica log.
func (n *Node) serveReplicate(req *transport.Request, r transport.Reply) {
	var in proto.ReplicateRequest
	if !decode(req, r, &in) {
		return
	}
	trim := func() {
		for _, t := range in.Trims {
			ranges := make([]sinks.Range, len(t.Ranges))
			for i, x := range t.Ranges {
				ranges[i] = sinks.Range{Partition: x.Partition, First: x.First, Last: x.Last}
			}
			n.holder.Trim(in.Origin, t.Store, ranges)
		}
	}
	if len(in.Records) == 0 {
		trim()
		r.Send(nil, nil)
		return
	}
	n.holder.Hold(in.Origin, in.Records, func(err error) { r.Send(nil, rpcError(err)) })
	trim()
}

// watchReplicas follows a ring change for replication: backups that left
// the ring are dropped (the ops waiting for them are answered), the
// partitions this node owns whose backups changed are flushed at once, so
// that no replica ever has to move, and the ops held for members that
// failed (or restarted under a new origin) are delivered, those of members
// that left gracefully dropped.
func (n *Node) watchReplicas(prev, snap *ring.Snapshot) {
	n.sender.Prune(snap)
	for _, s := range n.stores {
		if s.cfg.Ack != AckReplicated || s.pipe == nil || prev == nil {
			continue
		}
		if changed := backupsChanged(prev, snap, n.cfg.Name, s.cfg.Replicas); len(changed) > 0 {
			s.pipe.Lose(changed, false)
		}
	}
	members := map[string]cluster.Member{}
	for _, m := range n.cluster.Members() {
		members[m.Name] = m
	}
	for _, origin := range n.holder.Origins() {
		m, known := members[nodeOf(origin)]
		switch {
		case known && m.Status == cluster.StatusAlive && m.Origin == origin:
			// Its owner lives and flushes its ops itself.
		case known && m.Status == cluster.StatusLeft && m.Origin == origin:
			if err := n.holder.Drop(origin); err != nil {
				n.logger.Warn("cannot remove the replica log of a member that left", "origin", origin, "error", err)
			}
		default:
			if n.holder.Held(origin) > 0 {
				n.goFunc(func() { n.failover(origin) })
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

// nodeOf is the node name of an origin ("name.N.R").
func nodeOf(origin string) string {
	i := strings.LastIndexByte(origin, '.')
	if i < 0 {
		return origin
	}
	j := strings.LastIndexByte(origin[:i], '.')
	if j < 0 {
		return origin[:i]
	}
	return origin[:j]
}

// failover delivers the ops this node holds of origin, whose node failed:
// each store's as one batch under origin, without what the sink applied
// already (a position-recording sink decides, whoever delivered first). What
// cannot be delivered now is tried again until the node stops; then its log
// stays for the next start.
func (n *Node) failover(origin string) {
	recs, log := n.holder.Take(origin)
	if len(recs) == 0 && log == nil {
		return
	}
	start := time.Now()
	n.logger.Warn("member failed: delivering the ops held for it", "origin", origin)
	ctx := n.loopCtx
	var delivered, keys int64
	for name, ops := range recs {
		s, ok := n.stores[name]
		if !ok || s.pipe == nil {
			n.logger.Error("ops held for a failed member belong to a store not declared here; they stay in the replica log", "origin", origin, "store", name, "ops", len(ops))
			return
		}
		for attempt := 1; ; attempt++ {
			k, b, err := journal.Deliver(ctx, origin, name, n.cfg.Name, ops, n.dlq, s.replayer())
			if err == nil || isDeadLettered(err) {
				delivered += k
				keys += int64(b.Len())
				if err != nil {
					n.logger.Error("failover batch dead-lettered", "origin", origin, "store", name, "batch", b.ID, "error", err)
				}
				break
			}
			n.logger.Error("failover delivery failed; trying again", "origin", origin, "store", name, "attempt", attempt, "error", err)
			t := time.NewTimer(s.cfg.RetryDelay * time.Duration(min(attempt, 10)))
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				n.logger.Error("failover cut short by the node stopping; the replica log stays for the next start", "origin", origin)
				return
			}
		}
	}
	if err := n.holder.Release(origin, log); err != nil {
		n.logger.Warn("cannot remove a delivered replica log", "origin", origin, "error", err)
	}
	n.failovers.Add(1)
	n.lastFailover.Store(time.Now().UnixNano())
	n.logger.Warn("failover flush done", "origin", origin, "ops", delivered, "keys", keys, "took", time.Since(start))
}

// recoverReplicas delivers, before the node serves, the ops that earlier
// incarnations of this node held for others and did not deliver or drop.
func (n *Node) recoverReplicas(ctx context.Context) {
	replica.Recover(ctx, n.replicasRoot(), n.origin, func(ctx context.Context, root string) {
		journal.Recover(ctx, root, "", n.cfg.Name, n.dlq, n.replayerOf, n.logger.Named("replica"))
	})
}

// closeReplication stops the sender once the trims of the final flush are
// out (within ctx), and closes the holder: the logs of members that still
// live are removed (they flush their ops themselves), the others kept for
// the next start.
func (n *Node) closeReplication(ctx context.Context, graceful bool) error {
	if graceful {
		n.sender.Drain(ctx)
	}
	n.sendCancel()
	n.sender.Close()
	alive := map[string]bool{}
	if graceful {
		for _, m := range n.cluster.Members() {
			if m.Status == cluster.StatusAlive {
				alive[m.Origin] = true
			}
		}
	}
	return n.holder.Close(func(origin string) bool { return !alive[origin] })
}

func isDeadLettered(err error) bool { return errors.Is(err, flush.ErrDeadLettered) }
