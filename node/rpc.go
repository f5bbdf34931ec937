package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/hoard-dev/hoard/internal/lifecycle"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/internal/route"
	"github.com/hoard-dev/hoard/transport"
)

// serveRPC answers requests from clients and peers. It runs on the
// connection's reader goroutine and must not block.
func (n *Node) serveRPC(req *transport.Request, r transport.Reply) {
	if n.life.State() == lifecycle.Starting {
		r.Send(nil, transport.NewError(proto.CodeShuttingDown, errors.New("node: still starting")))
		return
	}
	if err := n.permit(req); err != nil {
		r.Send(nil, rpcError(err))
		return
	}
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
		if !decode(req, r, &in) {
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
	case proto.MethodLeave:
		// Answer first: the leave closes this connection. Leave runs on a
		// goroutine of its own, not goFunc's, which Leave itself waits for;
		// it ends when the leave does, bounded by Config.LeaveTimeout.
		r.Send(nil, nil)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), n.cfg.LeaveTimeout)
			defer cancel()
			if err := n.Leave(ctx); err != nil && !errors.Is(err, ErrShutdown) {
				n.logger.Error("leave on request failed", "error", err)
			}
		}()
	case proto.MethodInfo:
		serveBlocking(n, req, r, n.infoRPC)
	case proto.MethodForward:
		if req.Flags&transport.FlagForwarded == 0 {
			r.Send(nil, transport.NewError(proto.CodeInvalid, errors.New("fwd is for peers only")))
			return
		}
		var in proto.ForwardRequest
		if !decode(req, r, &in) {
			return
		}
		n.router.ApplyForwarded(in.Ops, func(res []proto.OpResult) {
			r.Send(&proto.ForwardResponse{Results: res}, nil)
		})
	case proto.MethodReplicate:
		if req.Flags&transport.FlagForwarded == 0 {
			r.Send(nil, transport.NewError(proto.CodeInvalid, errors.New("repl is for peers only")))
			return
		}
		var in proto.ReplicateRequest
		if decode(req, r, &in) {
			n.keeper.Serve(in, func(err error) { r.Send(nil, rpcError(err)) })
		}
	case proto.MethodFlush:
		serveBlocking(n, req, r, n.flushRPC)
	case proto.MethodKeyring:
		serveBlocking(n, req, r, n.keyringRPC)
	case proto.MethodDLQList:
		serveBlocking(n, req, r, func(_ context.Context, in proto.DLQRequest) (any, error) {
			letters, err := n.DeadLetters(in.Store)
			return proto.DLQListResponse{Letters: append([]proto.DeadLetter{}, letters...)}, err
		})
	case proto.MethodDLQReplay:
		serveBlocking(n, req, r, func(ctx context.Context, in proto.DLQRequest) (any, error) {
			res, err := n.ReplayDeadLetters(ctx, in.Store)
			return proto.DLQReplayResponse{Replayed: res.Replayed, Failed: res.Failed}, err
		})
	default:
		if route.IsKeyMethod(req.Method) {
			n.serveOp(req, r)
			return
		}
		r.Send(nil, transport.NewError(proto.CodeInvalid, fmt.Errorf("unknown method %q", req.Method)))
	}
}

// serveOp handles a client's op on one key. It never blocks: the reply is
// sent when the owner has answered.
func (n *Node) serveOp(req *transport.Request, r transport.Reply) {
	o, err := route.RequestOp(req)
	if err == nil && req.Method == proto.MethodIncrAsync {
		r.Send(nil, rpcError(n.IncrAsync(o.Store, o.Key, o.Delta)))
		return
	}
	var s *store
	if err == nil {
		s, err = n.checkOp(&o)
	}
	if err != nil {
		r.Send(nil, rpcError(err))
		return
	}
	kind := o.Kind
	n.router.Start(&o, s.eng, req.Deadline, func(res op.Result) { route.ReplyOp(r, kind, res) })
}

// decode reads req's body into in; a body that does not decode is answered
// as an invalid request, and decode returns false.
func decode(req *transport.Request, r transport.Reply, in any) bool {
	if err := req.Decode(in); err != nil {
		r.Send(nil, transport.NewError(proto.CodeInvalid, err))
		return false
	}
	return true
}

// rpcError gives err the code clients map back to a sentinel error.
func rpcError(err error) error {
	if err == nil {
		return nil
	}
	return transport.NewError(proto.CodeOf(err), err)
}

// serveBlocking decodes req's body and runs f, which may block, on a
// goroutine of its own, replying with its result.
func serveBlocking[In, Out any](n *Node, req *transport.Request, r transport.Reply, f func(context.Context, In) (Out, error)) {
	var in In
	if !decode(req, r, &in) {
		return
	}
	if !n.goFunc(func() {
		ctx, cancel := req.Context(context.Background())
		defer cancel()
		resp, err := f(ctx, in)
		r.Send(resp, rpcError(err))
	}) {
		r.Send(nil, rpcError(ErrShutdown))
	}
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
			Stores:     m.Stores,
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
