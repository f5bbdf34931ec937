package node

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/proto"
)

// keyringRPC lists or changes the gossip keyring here and, unless
// in.Local, on every other member of the ring, in parallel: the cluster-wide
// `hoard keyring` of serf and consul. Each node persists its keyring in its
// data dir before it answers.
func (n *Node) keyringRPC(ctx context.Context, in proto.KeyringRequest) (proto.KeyringResponse, error) {
	var key []byte
	switch in.Op {
	case proto.KeyringList:
	case proto.KeyringInstall, proto.KeyringUse, proto.KeyringRemove:
		k, err := base64.StdEncoding.DecodeString(in.Key)
		if err != nil {
			return proto.KeyringResponse{}, fmt.Errorf("%w: keyring %s: the key is not base64: %w", errs.ErrInvalidKey, in.Op, err)
		}
		if l := len(k); l != 16 && l != 24 && l != 32 {
			return proto.KeyringResponse{}, fmt.Errorf("%w: keyring %s: a gossip key has 16, 24 or 32 bytes, this one %d (hoard keygen makes one)", errs.ErrInvalidKey, in.Op, l)
		}
		key = k
	default:
		return proto.KeyringResponse{}, fmt.Errorf("%w: keyring operation %q: want list, install, use or remove", errs.ErrInvalidKey, in.Op)
	}
	local := func() proto.NodeKeyring {
		var err error
		switch in.Op {
		case proto.KeyringInstall:
			err = n.cluster.InstallKey(key)
		case proto.KeyringUse:
			err = n.cluster.UseKey(key)
		case proto.KeyringRemove:
			err = n.cluster.RemoveKey(key)
		}
		nk := proto.NodeKeyring{Node: n.cfg.Name, Error: errString(err)}
		keys, primary := n.cluster.Keys()
		for _, k := range keys {
			nk.Keys = append(nk.Keys, base64.StdEncoding.EncodeToString(k))
		}
		if primary != nil {
			nk.Primary = base64.StdEncoding.EncodeToString(primary)
		}
		if err == nil && keys == nil {
			nk.Error = "gossip encryption is off on this node (set encrypt)"
		}
		return nk
	}
	if in.Local {
		return proto.KeyringResponse{Nodes: []proto.NodeKeyring{local()}}, nil
	}
	req := in
	req.Local = true
	nodes, err := perNode(ctx, n, proto.MethodKeyring, req, local,
		func(r *proto.KeyringResponse) []proto.NodeKeyring { return r.Nodes },
		func(node string, err error) proto.NodeKeyring {
			return proto.NodeKeyring{Node: node, Error: errString(err)}
		},
		func(nk proto.NodeKeyring) string { return nk.Node })
	return proto.KeyringResponse{Nodes: nodes}, err
}
