package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/transport"
)

// serveRPC answers requests from clients and peers. It runs on the
// connection's reader goroutine and must not block.
func (n *Node) serveRPC(req *transport.Request, r transport.Reply) {
	if !n.started.Load() {
		r.Send(nil, transport.NewError(proto.CodeShuttingDown, errors.New("node: still starting")))
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
	case proto.MethodIncr, proto.MethodIncrAsync, proto.MethodCount,
		proto.MethodInsert, proto.MethodSize, proto.MethodDump,
		proto.MethodGet, proto.MethodFetch, proto.MethodSet, proto.MethodDelete:
		n.serveOp(req, r)
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
		var in proto.InfoRequest
		if err := req.Decode(&in); err != nil {
			r.Send(nil, transport.NewError(proto.CodeInvalid, err))
			return
		}
		n.serveBlocking(req, r, func(ctx context.Context) (any, error) {
			return n.infoRPC(ctx, in)
		})
	case proto.MethodForward:
		if req.Flags&transport.FlagForwarded == 0 {
			r.Send(nil, transport.NewError(proto.CodeInvalid, errors.New("fwd is for peers only")))
			return
		}
		var in proto.ForwardRequest
		if err := req.Decode(&in); err != nil {
			r.Send(nil, transport.NewError(proto.CodeInvalid, err))
			return
		}
		n.applyForwarded(in.Ops, func(res []proto.OpResult) {
			r.Send(&proto.ForwardResponse{Results: res}, nil)
		})
	case proto.MethodFlush:
		var in proto.FlushRequest
		if err := req.Decode(&in); err != nil {
			r.Send(nil, transport.NewError(proto.CodeInvalid, err))
			return
		}
		n.serveBlocking(req, r, func(ctx context.Context) (any, error) {
			return n.flushRPC(ctx, in)
		})
	case proto.MethodDLQList:
		var in proto.DLQRequest
		if err := req.Decode(&in); err != nil {
			r.Send(nil, transport.NewError(proto.CodeInvalid, err))
			return
		}
		n.serveBlocking(req, r, func(context.Context) (any, error) {
			letters, err := n.DeadLetters(in.Store)
			out := proto.DLQListResponse{Letters: []proto.DeadLetter{}}
			for _, l := range letters {
				out.Letters = append(out.Letters, proto.DeadLetter{
					Store: l.Store, Batch: l.Batch, Kind: l.Kind, Keys: l.Keys,
					Time: l.Time, Attempts: l.Attempts, Error: l.Error, Path: l.Path,
				})
			}
			return out, err
		})
	case proto.MethodDLQReplay:
		var in proto.DLQRequest
		if err := req.Decode(&in); err != nil {
			r.Send(nil, transport.NewError(proto.CodeInvalid, err))
			return
		}
		n.serveBlocking(req, r, func(ctx context.Context) (any, error) {
			res, err := n.ReplayDeadLetters(ctx, in.Store)
			return proto.DLQReplayResponse{Replayed: res.Replayed, Failed: res.Failed}, err
		})
	default:
		r.Send(nil, transport.NewError(proto.CodeInvalid, fmt.Errorf("unknown method %q", req.Method)))
	}
}

// serveOp handles a client's op on one key. It never blocks: the reply is
// sent when the owner has answered.
func (n *Node) serveOp(req *transport.Request, r transport.Reply) {
	var o op
	var store, key string
	switch req.Method {
	case proto.MethodIncr, proto.MethodIncrAsync:
		var in proto.IncrRequest
		if err := req.Decode(&in); err != nil {
			r.Send(nil, transport.NewError(proto.CodeInvalid, err))
			return
		}
		if req.Method == proto.MethodIncrAsync {
			r.Send(nil, rpcError(n.IncrAsync(in.Store, in.Key, in.Delta)))
			return
		}
		o.kind, store, key, o.delta = proto.OpIncr, in.Store, in.Key, in.Delta
	case proto.MethodInsert:
		var in proto.InsertRequest
		if err := req.Decode(&in); err != nil {
			r.Send(nil, transport.NewError(proto.CodeInvalid, err))
			return
		}
		if err := n.checkValues(in.Values); err != nil {
			r.Send(nil, rpcError(err))
			return
		}
		o.kind, store, key, o.values = proto.OpInsert, in.Store, in.Key, in.Values
	case proto.MethodSet:
		var in proto.SetRequest
		if err := req.Decode(&in); err != nil {
			r.Send(nil, transport.NewError(proto.CodeInvalid, err))
			return
		}
		if err := n.checkValues([][]byte{in.Value}); err != nil {
			r.Send(nil, rpcError(err))
			return
		}
		o.kind, store, key, o.values = proto.OpSet, in.Store, in.Key, [][]byte{in.Value}
	default:
		var in proto.KeyRequest
		if err := req.Decode(&in); err != nil {
			r.Send(nil, transport.NewError(proto.CodeInvalid, err))
			return
		}
		store, key = in.Store, in.Key
		switch req.Method {
		case proto.MethodCount:
			o.kind = proto.OpCount
		case proto.MethodSize:
			o.kind = proto.OpSize
		case proto.MethodGet:
			o.kind = proto.OpGet
		case proto.MethodFetch:
			o.kind = proto.OpFetch
		case proto.MethodDelete:
			o.kind = proto.OpDelete
		default:
			o.kind = proto.OpDump
		}
	}
	s, err := n.checkOp(o.kind, store, key)
	if err != nil {
		r.Send(nil, rpcError(err))
		return
	}
	o.store, o.key = s, key
	o.deadline = req.Deadline
	if o.deadline.IsZero() {
		o.deadline = time.Now().Add(defaultOpTimeout)
	}
	kind := o.kind
	o.done = func(res opResult) {
		switch {
		case res.err != nil:
			r.Send(nil, rpcError(res.err))
		case kind == proto.OpCount || kind == proto.OpSize || kind == proto.OpDelete:
			r.Send(proto.CountResponse{Count: res.count}, nil)
		case kind == proto.OpGet || kind == proto.OpFetch:
			fr := fetchResult(res)
			r.Send(proto.GetResponse{Value: fr.Value, Found: fr.Found, Loaded: fr.Loaded}, nil)
		case kind == proto.OpDump:
			r.Send(proto.ValuesResponse{Values: res.values}, nil)
		default:
			r.Send(nil, nil)
		}
	}
	n.route(&o)
}

// serveBlocking runs f, which may block, on its own goroutine and replies
// with its result.
func (n *Node) serveBlocking(req *transport.Request, r transport.Reply, f func(ctx context.Context) (any, error)) {
	if !n.goFunc(func() {
		ctx, cancel := req.Context(context.Background())
		defer cancel()
		resp, err := f(ctx)
		r.Send(resp, rpcError(err))
	}) {
		r.Send(nil, rpcError(ErrShutdown))
	}
}

// rpcError gives err the code clients map back to a sentinel error.
func rpcError(err error) error {
	if err == nil {
		return nil
	}
	return transport.NewError(codeOf(err), err)
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
