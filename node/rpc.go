package node

import (
	"errors"
	"fmt"

	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/transport"
)

// serveRPC answers requests from clients and peers. It runs on the
// connection's reader goroutine and must not block.
func (n *Node) serveRPC(req *transport.Request, r transport.Reply) {
	switch req.Method {
	case proto.MethodStatus:
		r.Send(n.status(), nil)
	case proto.MethodMembers:
		r.Send(n.membersResponse(), nil)
	case proto.MethodRing:
		resp, err := n.ringResponse()
		r.Send(resp, rpcError(err))
	case proto.MethodOwner:
		var in proto.OwnerRequest
		if err := req.Decode(&in); err != nil {
			r.Send(nil, transport.NewError(proto.CodeInvalid, err))
			return
		}
		pl, err := n.Owner(in.Store, in.Key)
		if err != nil {
			r.Send(nil, rpcError(err))
			return
		}
		out := proto.OwnerResponse{
			Partition:   pl.Partition,
			Owner:       proto.RingMember{Name: pl.Owner.Name, Addr: pl.Owner.Addr},
			RingVersion: pl.Version,
		}
		for _, b := range pl.Backups {
			out.Backups = append(out.Backups, proto.RingMember{Name: b.Name, Addr: b.Addr})
		}
		r.Send(out, nil)
	default:
		r.Send(nil, transport.NewError(proto.CodeInvalid, fmt.Errorf("unknown method %q", req.Method)))
	}
}

// rpcError gives err the code clients map back to a sentinel error.
func rpcError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrInvalidKey):
		return transport.NewError(proto.CodeInvalid, err)
	case errors.Is(err, ErrShutdown):
		return transport.NewError(proto.CodeShuttingDown, err)
	case errors.Is(err, ErrNoRing):
		return transport.NewError(proto.CodeNoRing, err)
	}
	return err
}

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

func (n *Node) membersResponse() proto.MembersResponse {
	snap := n.cluster.Ring()
	var load map[string]int
	if snap != nil {
		load = snap.Load()
	}
	var out proto.MembersResponse
	for _, m := range n.cluster.Members() {
		out.Members = append(out.Members, proto.Member{
			Name:       m.Name,
			GossipAddr: m.GossipAddr,
			RPCAddr:    m.RPCAddr,
			HTTPAddr:   m.HTTPAddr,
			Status:     string(m.Status),
			State:      string(m.State),
			Version:    m.Version,
			Partitions: load[m.Name],
		})
	}
	return out
}

func (n *Node) ringResponse() (proto.RingResponse, error) {
	snap := n.cluster.Ring()
	if snap == nil {
		return proto.RingResponse{}, ErrNoRing
	}
	cfg := snap.Config()
	out := proto.RingResponse{
		Version:      snap.Version(),
		Checksum:     snap.Checksum(),
		Partitions:   cfg.Partitions,
		Load:         cfg.Load,
		VirtualNodes: cfg.VirtualNodes,
		Backups:      cfg.Backups,
	}
	for _, m := range snap.Members() {
		out.Members = append(out.Members, proto.RingMember{Name: m.Name, Addr: m.Addr})
	}
	return out, nil
}
