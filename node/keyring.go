package node

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/hoard-dev/hoard/cluster"
	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/proto"
)

// keyringRPC lists or changes the gossip keyring here and, unless
// in.Local, on every other member of the ring, in parallel: the cluster-wide
// `hoard keyring` of serf and consul. Each node persists its keyring in its
// data dir before it answers (cluster's InstallKey, UseKey, RemoveKey).
func (n *Node) keyringRPC(ctx context.Context, in proto.KeyringRequest) (proto.KeyringResponse, error) {
	change := map[string]func([]byte) error{
		proto.KeyringInstall: n.cluster.InstallKey,
		proto.KeyringUse:     n.cluster.UseKey,
		proto.KeyringRemove:  n.cluster.RemoveKey,
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
		nk := proto.NodeKeyring{Node: n.cfg.Name}
		if change != nil {
			nk.Error = errString(change(key))
		}
		keys, primary := n.cluster.Keys()
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
	nodes, err := perNode(ctx, n, proto.MethodKeyring, in, local,
		func(r *proto.KeyringResponse) []proto.NodeKeyring { return r.Nodes },
		func(node string, err error) proto.NodeKeyring {
			return proto.NodeKeyring{Node: node, Error: errString(err)}
		},
		func(nk proto.NodeKeyring) string { return nk.Node })
	return proto.KeyringResponse{Nodes: nodes}, err
}
