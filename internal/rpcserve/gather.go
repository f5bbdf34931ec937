package rpcserve

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"github.com/hoard-dev/hoard/cluster"
	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/transport"
)

// perNode gathers a cluster-wide answer, one part per node of the ring:
// local() here and, through transport.Gather, the others' own parts,
// sorted by name(part).
func perNode[T, R any](ctx context.Context, s *Server, method string, req any, local func() T,
	parts func(*R) []T, failed func(node string, err error) T, name func(T) string) ([]T, error) {
	snap := s.node.Cluster().Ring()
	if snap == nil {
		return nil, errs.ErrNoRing
	}
	var peers []transport.Peer
	for _, m := range snap.Members() {
		if m.Name != s.cfg.Name {
			peers = append(peers, transport.Peer{Name: m.Name, Addr: m.Addr})
		}
	}
	out := transport.Gather(ctx, s.cfg.Pool, peers, method, req, local, parts, failed)
	slices.SortFunc(out, func(a, b T) int { return strings.Compare(name(a), name(b)) })
	return out, nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// flush flushes here and, unless in.Local, on every other member of the
// ring, in parallel.
func (s *Server) flush(ctx context.Context, in proto.FlushRequest) (proto.FlushResponse, error) {
	if err := s.node.CheckStore(in.Store); err != nil {
		return proto.FlushResponse{}, err
	}
	local := func() proto.NodeFlush { return s.node.Flush(ctx, in.Store) }
	if in.Local {
		return proto.FlushResponse{Nodes: []proto.NodeFlush{local()}}, nil
	}
	nodes, err := perNode(ctx, s, proto.MethodFlush, proto.FlushRequest{Store: in.Store, Local: true}, local,
		func(r *proto.FlushResponse) []proto.NodeFlush { return r.Nodes },
		func(node string, err error) proto.NodeFlush {
			return proto.NodeFlush{Node: node, Error: errString(err)}
		},
		func(nf proto.NodeFlush) string { return nf.Node })
	return proto.FlushResponse{Nodes: nodes}, err
}

// Info describes the stores here and, unless in.Local, on every other
// member of the ring.
func (s *Server) Info(ctx context.Context, in proto.InfoRequest) (proto.InfoResponse, error) {
	if err := s.node.CheckStore(in.Store); err != nil {
		return proto.InfoResponse{}, err
	}
	local := func() proto.NodeInfo { return s.node.Info(in.Store) }
	if in.Local {
		return proto.InfoResponse{Nodes: []proto.NodeInfo{local()}}, nil
	}
	nodes, err := perNode(ctx, s, proto.MethodInfo, proto.InfoRequest{Store: in.Store, Local: true}, local,
		func(r *proto.InfoResponse) []proto.NodeInfo { return r.Nodes },
		func(node string, err error) proto.NodeInfo { return proto.NodeInfo{Node: node, Error: errString(err)} },
		func(ni proto.NodeInfo) string { return ni.Node })
	return proto.InfoResponse{Nodes: nodes}, err
}

// keyring lists or changes the gossip keyring here and, unless in.Local,
// on every other member of the ring, in parallel: the cluster-wide
// `hoard keyring` of serf and consul. Each node persists its keyring in
// its data dir before it answers (cluster's InstallKey, UseKey,
// RemoveKey).
func (s *Server) keyring(ctx context.Context, in proto.KeyringRequest) (proto.KeyringResponse, error) {
	c := s.node.Cluster()
	change := map[string]func([]byte) error{
		proto.KeyringInstall: c.InstallKey,
		proto.KeyringUse:     c.UseKey,
		proto.KeyringRemove:  c.RemoveKey,
	}[in.Op]
	var key []byte
	switch {
	case change != nil:
		k, err := cluster.ParseKey(in.Key)
		if err != nil {
			return proto.KeyringResponse{}, fmt.Errorf("%w: keyring %s: %w (hoard keygen makes one)", errs.ErrInvalidKey, in.Op, err)
		}
		key = k
	case in.Op != proto.KeyringList:
		return proto.KeyringResponse{}, fmt.Errorf("%w: keyring operation %q: want list, install, use or remove", errs.ErrInvalidKey, in.Op)
	}
	local := func() proto.NodeKeyring {
		nk := proto.NodeKeyring{Node: s.cfg.Name}
		if change != nil {
			nk.Error = errString(change(key))
		}
		keys, primary := c.Keys()
		if keys == nil && nk.Error == "" {
			nk.Error = cluster.ErrNoEncryption.Error()
		}
		for _, k := range keys {
			nk.Keys = append(nk.Keys, base64.StdEncoding.EncodeToString(k))
		}
		if primary != nil {
			nk.Primary = base64.StdEncoding.EncodeToString(primary)
		}
		return nk
	}
	if in.Local {
		return proto.KeyringResponse{Nodes: []proto.NodeKeyring{local()}}, nil
	}
	in.Local = true
	nodes, err := perNode(ctx, s, proto.MethodKeyring, in, local,
		func(r *proto.KeyringResponse) []proto.NodeKeyring { return r.Nodes },
		func(node string, err error) proto.NodeKeyring {
			return proto.NodeKeyring{Node: node, Error: errString(err)}
		},
		func(nk proto.NodeKeyring) string { return nk.Node })
	return proto.KeyringResponse{Nodes: nodes}, err
}
