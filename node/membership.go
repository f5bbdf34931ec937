package node

import (
	"context"
	"fmt"

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
		case prev != nil:
			// No member is in the ring: the last ones, this node among
			// them, are leaving. No backup is left to wait for; a final
			// flush's trims to one that already went must not hold the
			// leave until its deadline.
			n.keeper.Watch(prev, nil)
		}
		select {
		case <-changed:
		case <-n.life.Background():
			return
		}
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
