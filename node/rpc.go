package node

import (
	"context"
	"time"

	"github.com/hoard-dev/hoard/cluster"
	"github.com/hoard-dev/hoard/internal/lifecycle"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/internal/rpcserve"
	"github.com/hoard-dev/hoard/transport"
)

// rpcServer is the handler of the RPC port (internal/rpcserve), seeing the
// node through rpcNode.
func (n *Node) rpcServer() *rpcserve.Server {
	return rpcserve.New(rpcNode{n}, rpcserve.Config{
		Name: n.cfg.Name, Pool: n.pool, LeaveTimeout: n.cfg.LeaveTimeout, Logger: n.logger,
	})
}

// rpcNode is the node as its RPC port serves it.
type rpcNode struct{ n *Node }

var _ rpcserve.Node = rpcNode{}

func (r rpcNode) Starting() bool                      { return r.n.life.State() == lifecycle.Starting }
func (r rpcNode) Permit(req *transport.Request) error { return r.n.permit(req) }
func (r rpcNode) Status() proto.Status                { return r.n.status() }
func (r rpcNode) Ready() (bool, string)               { return r.n.Ready() }
func (r rpcNode) Leave(ctx context.Context) error     { return r.n.Leave(ctx) }
func (r rpcNode) Go(f func()) bool                    { return r.n.goFunc(f) }
func (r rpcNode) Cluster() *cluster.Cluster           { return r.n.cluster }
func (r rpcNode) IncrAsync(store, key string, d int64) error {
	return r.n.IncrAsync(store, key, d)
}

func (r rpcNode) Start(o *op.Op, deadline time.Time, done func(op.Result)) {
	if res, ok := r.n.start(o, deadline, done); ok {
		done(res)
	}
}

func (r rpcNode) ApplyForwarded(ops []proto.Op, done func([]proto.OpResult)) {
	r.n.router.ApplyForwarded(ops, done)
}

func (r rpcNode) Replicate(in proto.ReplicateRequest, done func(error)) {
	r.n.keeper.Serve(in, done)
}

func (r rpcNode) CheckStore(store string) error {
	_, err := r.n.stores.Select(store)
	return err
}

func (r rpcNode) Owner(store, key string) (proto.OwnerResponse, error) {
	pl, err := r.n.Owner(store, key)
	if err != nil {
		return proto.OwnerResponse{}, err
	}
	out := proto.OwnerResponse{
		Partition:   pl.Partition,
		Owner:       proto.RingMember{Name: pl.Owner.Name, Addr: pl.Owner.Addr},
		RingVersion: pl.Version,
	}
	for _, b := range pl.Backups {
		out.Backups = append(out.Backups, proto.RingMember{Name: b.Name, Addr: b.Addr})
	}
	return out, nil
}

func (r rpcNode) Flush(ctx context.Context, store string) proto.NodeFlush {
	res, err := r.n.Flush(ctx, store)
	return proto.NodeFlush{Node: r.n.cfg.Name, Batches: res.Batches, Keys: res.Keys, DeadLettered: res.DeadLettered, Error: errString(err)}
}

func (r rpcNode) Info(store string) proto.NodeInfo {
	n := r.n
	st := n.counters()
	ni := proto.NodeInfo{Node: n.cfg.Name, Unflushed: st.Unflushed, WALBytes: st.WALBytes, ReplicaOps: st.ReplicaOps, Failovers: st.Failovers, LastFailover: st.LastFailover}
	infos, err := n.Info(store)
	ni.Error = errString(err)
	for _, si := range infos {
		ni.Stores = append(ni.Stores, proto.StoreInfo{
			Node: n.cfg.Name, Store: si.Name, Kind: string(si.Kind), Keys: si.Keys, Values: si.Values,
			Bytes: si.Bytes, Flushes: si.Flushes, Failures: si.Failures, DeadLettered: si.DeadLettered,
			LastFlush: si.LastFlush,
		})
	}
	return ni
}

func (r rpcNode) DeadLetters(store string) ([]proto.DeadLetter, error) {
	return r.n.DeadLetters(store)
}

func (r rpcNode) ReplayDeadLetters(ctx context.Context, store string) (proto.DLQReplayResponse, error) {
	res, err := r.n.ReplayDeadLetters(ctx, store)
	return proto.DLQReplayResponse{Replayed: res.Replayed, Failed: res.Failed}, err
}

// status describes the node (RPC status, the HTTP status and page).
func (n *Node) status() proto.Status {
	s := proto.Status{
		Name:    n.cfg.Name,
		Cluster: n.cfg.Cluster,
		Version: Version,
		State:   string(n.cluster.LocalMeta().State),
	}
	if snap := n.cluster.Ring(); snap != nil {
		s.RingVersion = snap.Version()
	}
	s.Ready, _ = n.Ready()
	return s
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
