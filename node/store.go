package node

import (
	"context"
	"slices"

	"github.com/hoard-dev/hoard/cluster"

	"github.com/hoard-dev/hoard/internal/durability"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/internal/route"
	"github.com/hoard-dev/hoard/internal/stores"
	"github.com/hoard-dev/hoard/ring"
)

// storeDeps is what the node gives its stores (package internal/stores).
func (n *Node) storeDeps() stores.Deps {
	return stores.Deps{
		Host: op.Host{
			Node: n.cfg.Name, Partitions: n.cfg.Ring.Partitions, Go: n.goFunc, Stopping: n.loopCtx,
			Exposed: &n.exposed.Int64, Origin: n.keeper.Origin(), BatchID: n.keeper.BatchID, Logger: n.logger,
			Owns: n.ownsNow,
		},
		Keeper: n.keeper, DeadLetters: n.dlq, DataDir: n.cfg.DataDir, MaxValueBytes: n.cfg.MaxValueBytes,
		Route: n.routeOp,
	}
}

// durabilityConfig wires the node's durability keeper.
func (n *Node) durabilityConfig() durability.Config {
	logged := slices.ContainsFunc(n.cfg.Stores, func(s StoreConfig) bool { return s.WithDefaults().Logged() })
	return durability.Config{
		Name: n.cfg.Name, DataDir: n.cfg.DataDir, Logged: logged, SyncEvery: n.cfg.walSyncEvery(),
		Pool: n.pool, Go: n.goFunc, Stopping: n.loopCtx, Ring: n.ring,
		Members: func() []cluster.Member { return n.cluster.Members() }, DeadLetters: n.dlq, Logger: n.logger,
	}
}

// ownsNow reports whether this node owns partition p in its current ring.
func (n *Node) ownsNow(p int) bool {
	snap := n.ring()
	return snap != nil && snap.Owns(n.cfg.Name, p)
}

// ring is the current ring, nil before the cluster runs.
func (n *Node) ring() *ring.Snapshot {
	if n.cluster == nil {
		return nil
	}
	return n.cluster.Ring()
}

// routeOp sends o to its key's owner in store s (a loader's extra entries,
// seeds, cache entries handed over) and calls done with the outcome. The
// retries end with ctx.
func (n *Node) routeOp(ctx context.Context, s *stores.Store, o op.Op, done func(error)) {
	o.Store = s.Config.Name
	n.router.Route(&route.Call{Op: o, Target: s.Engine, Ctx: ctx, Done: func(r op.Result) { done(r.Err) }})
}
