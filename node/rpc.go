package node

import (
	"context"
	"errors"
	"fmt"
	"time"

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
		n.serveReplicate(req, r)
	case proto.MethodFlush:
		serveBlocking(n, req, r, n.flushRPC)
	case proto.MethodDLQList:
		serveBlocking(n, req, r, func(_ context.Context, in proto.DLQRequest) (any, error) {
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
		serveBlocking(n, req, r, func(ctx context.Context, in proto.DLQRequest) (any, error) {
			res, err := n.ReplayDeadLetters(ctx, in.Store)
			return proto.DLQReplayResponse{Replayed: res.Replayed, Failed: res.Failed}, err
		})
	default:
		r.Send(nil, transport.NewError(proto.CodeInvalid, fmt.Errorf("unknown method %q", req.Method)))
	}
}

// keyMethods maps the RPC methods on one key to the op they run.
var keyMethods = map[string]op.Kind{
	proto.MethodIncr:   op.Incr,
	proto.MethodCount:  op.Count,
	proto.MethodInsert: op.Insert,
	proto.MethodSize:   op.Size,
	proto.MethodDump:   op.Dump,
	proto.MethodGet:    op.Get,
	proto.MethodFetch:  op.Fetch,
	proto.MethodSet:    op.Set,
	proto.MethodDelete: op.Delete,
}

// serveOp handles a client's op on one key. It never blocks: the reply is
// sent when the owner has answered.
func (n *Node) serveOp(req *transport.Request, r transport.Reply) {
	c := &route.Call{Op: op.Op{Kind: keyMethods[req.Method]}, Deadline: req.Deadline}
	var err error
	switch req.Method {
	case proto.MethodIncr, proto.MethodIncrAsync:
		var in proto.IncrRequest
		if !decode(req, r, &in) {
			return
		}
		if req.Method == proto.MethodIncrAsync {
			r.Send(nil, rpcError(n.IncrAsync(in.Store, in.Key, in.Delta)))
			return
		}
		c.Store, c.Key, c.Delta = in.Store, in.Key, in.Delta
	case proto.MethodInsert:
		var in proto.InsertRequest
		if !decode(req, r, &in) {
			return
		}
		err = op.CheckValues(n.cfg.MaxValueBytes, in.Values)
		c.Store, c.Key, c.Values = in.Store, in.Key, in.Values
	case proto.MethodSet:
		var in proto.SetRequest
		if !decode(req, r, &in) {
			return
		}
		err = op.CheckValue(n.cfg.MaxValueBytes, in.Value)
		c.Store, c.Key, c.Values = in.Store, in.Key, [][]byte{in.Value}
	default:
		var in proto.KeyRequest
		if !decode(req, r, &in) {
			return
		}
		c.Store, c.Key = in.Store, in.Key
	}
	var s *store
	if err == nil {
		s, err = n.checkOp(c.Kind, c.Store, c.Key)
	}
	if err != nil {
		r.Send(nil, rpcError(err))
		return
	}
	c.Target = s.eng
	if c.Deadline.IsZero() {
		c.Deadline = time.Now().Add(defaultOpTimeout)
	}
	kind := c.Kind
	c.Done = func(res op.Result) {
		switch {
		case res.Err != nil:
			r.Send(nil, rpcError(res.Err))
		case kind == op.Count || kind == op.Size:
			r.Send(proto.CountResponse{Count: res.Count}, nil)
		case kind == op.Delete:
			var deleted int64
			if res.Deleted {
				deleted = 1
			}
			r.Send(proto.CountResponse{Count: deleted}, nil)
		case kind == op.Get || kind == op.Fetch:
			r.Send(proto.GetResponse{Value: res.Value, Found: res.Found, Loaded: res.Loaded}, nil)
		case kind == op.Dump:
			r.Send(proto.ValuesResponse{Values: res.Values}, nil)
		default:
			r.Send(nil, nil)
		}
	}
	n.router.Route(c)
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
