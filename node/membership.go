package node

import (
	"context"
	"fmt"
	"time"

	"github.com/hoard-dev/hoard/ring"
)

// watchRing follows ring changes: it stops the forwarders of members that
// left the ring (their queued ops are routed again) and tells each store
// which partitions this node lost (counters and buffers hand them off by
// flushing at once; caches drop their entries).
func (n *Node) watchRing() {
	var prev *ring.Snapshot
	for {
		snap, changed := n.cluster.Watch()
		switch {
		case snap != nil:
			n.router.Prune(snap)
			n.keeper.Watch(prev, snap)
			if lost := lostPartitions(prev, snap, n.cfg.Name); len(lost) > 0 {
				for _, s := range n.stores.All() {
					s.Engine.Lose(lost, prev == nil)
				}
			}
			prev = snap
			n.ringSeen.Store(snap.Version())
			if _, in := snap.Member(n.cfg.Name); !in {
				n.noteOutOfRing()
			}
		case prev != nil:
			// No member is in the ring: the last ones, this node among
			// them, are leaving. No backup is left to wait for; a final
			// flush's trims to one that already went must not hold the
			// leave until its deadline.
			n.keeper.Watch(prev, nil)
			n.noteOutOfRing()
		}
		select {
		case <-changed:
		case <-n.life.Background():
			return
		}
	}
}

// noteOutOfRing tells a leave under way that the stores have been told of
// a ring without this node: its caches have started handing their entries
// over.
func (n *Node) noteOutOfRing() {
	if p := n.outOfRing.Swap(nil); p != nil {
		close(*p)
	}
}

// handOver waits, during a leave, until the stores have been told of a ring
// without this node and the cache entries it handed over have been
// answered, so that stopping the router does not drop them: a leave then
// moves a cache's entries even when the ring change reaches this node
// late. It waits 5s at most (as Cluster.SetLeaving), less if ctx ends
// sooner; a leave that runs out of time says so and goes on, the entries
// not handed over left to the dump and to loads by their new owners.
func (n *Node) handOver(ctx context.Context, out <-chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var err error
	select {
	case <-out:
		err = n.stores.AwaitHandOffs(ctx)
	case <-ctx.Done():
		err = fmt.Errorf("this node still in its own ring: %w", ctx.Err())
	}
	if err != nil {
		n.logger.Warn("leave: cache entries not all handed over; their new owners will load them", "error", err)
	}
}

// lostPartitions lists the partitions name owned in prev and not in next.
// With no prev (the node's first ring), it lists every partition name does
// not own: entries loaded from a dump for them are not ours.
func lostPartitions(prev, next *ring.Snapshot, name string) []int {
	var lost []int
	for p := range next.Partitions() {
		if next.Owns(name, p) {
			continue
		}
		if prev == nil || prev.Partitions() != next.Partitions() || prev.Owns(name, p) {
			lost = append(lost, p)
		}
	}
	return lost
}

// seedCaches asks each cache store's loader, if it is a
// loaders.Initializer, for initial entries (DataWorker's init) and sets
// each at its owner. An init error is logged and start-up goes on, unless
// it wraps loaders.ErrStopStart.
func (n *Node) seedCaches(ctx context.Context) error {
	for _, s := range n.stores.All() {
		if c, ok := s.Engine.(interface{ Seed(context.Context) error }); ok {
			if err := c.Seed(ctx); err != nil {
				return fmt.Errorf("node: %w", err)
			}
		}
	}
	return nil
}
