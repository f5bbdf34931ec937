package node

import (
	"context"
	"slices"
	"strings"

	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/transport"
)

// perNode gathers a cluster-wide answer, one part per node of the ring:
// local() here and, through transport.Gather, the others' own parts,
// sorted by name(part).
func perNode[T, R any](ctx context.Context, n *Node, method string, req any, local func() T,
	parts func(*R) []T, failed func(node string, err error) T, name func(T) string) ([]T, error) {
	snap := n.cluster.Ring()
	if snap == nil {
		return nil, ErrNoRing
	}
	var peers []transport.Peer
	for _, m := range snap.Members() {
		if m.Name != n.cfg.Name {
			peers = append(peers, transport.Peer{Name: m.Name, Addr: m.Addr})
		}
	}
	out := transport.Gather(ctx, n.pool, peers, method, req, local, parts, failed)
	slices.SortFunc(out, func(a, b T) int { return strings.Compare(name(a), name(b)) })
	return out, nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// flushRPC flushes here and, unless in.Local, on every other member of the
// ring, in parallel.
func (n *Node) flushRPC(ctx context.Context, in proto.FlushRequest) (proto.FlushResponse, error) {
	if _, err := n.selectStores(in.Store); err != nil {
		return proto.FlushResponse{}, err
	}
	local := func() proto.NodeFlush {
		res, err := n.Flush(ctx, in.Store)
		return proto.NodeFlush{Node: n.cfg.Name, Batches: res.Batches, Keys: res.Keys, DeadLettered: res.DeadLettered, Error: errString(err)}
	}
	if in.Local {
		return proto.FlushResponse{Nodes: []proto.NodeFlush{local()}}, nil
	}
	nodes, err := perNode(ctx, n, proto.MethodFlush, proto.FlushRequest{Store: in.Store, Local: true}, local,
		func(r *proto.FlushResponse) []proto.NodeFlush { return r.Nodes },
		func(node string, err error) proto.NodeFlush {
			return proto.NodeFlush{Node: node, Error: errString(err)}
		},
		func(nf proto.NodeFlush) string { return nf.Node })
	return proto.FlushResponse{Nodes: nodes}, err
}

// infoRPC describes the stores here and, unless in.Local, on every other
// member of the ring.
func (n *Node) infoRPC(ctx context.Context, in proto.InfoRequest) (proto.InfoResponse, error) {
	if _, err := n.selectStores(in.Store); err != nil {
		return proto.InfoResponse{}, err
	}
	local := func() proto.NodeInfo {
		st := n.counters()
		ni := proto.NodeInfo{Node: n.cfg.Name, Unflushed: st.Unflushed, WALBytes: st.WALBytes, ReplicaOps: st.ReplicaOps, Failovers: st.Failovers, LastFailover: st.LastFailover}
		infos, err := n.Info(in.Store)
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
	if in.Local {
		return proto.InfoResponse{Nodes: []proto.NodeInfo{local()}}, nil
	}
	nodes, err := perNode(ctx, n, proto.MethodInfo, proto.InfoRequest{Store: in.Store, Local: true}, local,
		func(r *proto.InfoResponse) []proto.NodeInfo { return r.Nodes },
		func(node string, err error) proto.NodeInfo { return proto.NodeInfo{Node: node, Error: errString(err)} },
		func(ni proto.NodeInfo) string { return ni.Node })
	return proto.InfoResponse{Nodes: nodes}, err
}
