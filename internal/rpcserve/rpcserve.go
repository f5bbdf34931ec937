// Package rpcserve answers a node's RPC port: it decodes each method's
// request, checks that the caller may call it, runs it on the node, and
// encodes the answer, gathering the other members' parts for the
// cluster-wide methods (flush, info, keyring). The node is seen through
// Node, so this package holds the wire side and the node only wires.
package rpcserve

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/cluster"
	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/internal/route"
	"github.com/hoard-dev/hoard/transport"
)

// Node is the node as its RPC port serves it. Its methods are called on a
// connection's reader goroutine (must not block) unless said otherwise.
type Node interface {
	// Starting reports that the node does not serve yet.
	Starting() bool
	// Permit reports why req's caller may not call its method, nil if it
	// may.
	Permit(req *transport.Request) error
	// Status describes the node.
	Status() proto.Status
	// Ready reports whether the node serves, and why not.
	Ready() (bool, string)
	// Owner tells where key of store lives.
	Owner(store, key string) (proto.OwnerResponse, error)
	// Leave leaves the cluster gracefully; it blocks, bounded by the
	// node's leave timeout.
	Leave(ctx context.Context) error
	// IncrAsync queues an increment without an answer.
	IncrAsync(store, key string, delta int64) error
	// Start checks o and runs it, calling done once with its result; o is
	// the caller's, unchanged until done is called. A zero deadline is the
	// node's op timeout.
	Start(o *op.Op, deadline time.Time, done func(op.Result))
	// ApplyForwarded runs the ops a peer forwarded here (route.Router).
	ApplyForwarded(ops []proto.Op, done func([]proto.OpResult))
	// Replicate holds a frame of ops an owner sent this node, its backup.
	Replicate(in proto.ReplicateRequest, done func(error))
	// CheckStore refuses a store name the node does not have ("" is
	// every store).
	CheckStore(store string) error
	// Flush flushes store ("" for all) here; it blocks.
	Flush(ctx context.Context, store string) proto.NodeFlush
	// Info describes store ("" for all) here.
	Info(store string) proto.NodeInfo
	// DeadLetters lists store's dead-lettered batches here.
	DeadLetters(store string) ([]proto.DeadLetter, error)
	// ReplayDeadLetters sends them to the sink again; it blocks.
	ReplayDeadLetters(ctx context.Context, store string) (proto.DLQReplayResponse, error)
	// Go runs f on a goroutine the node waits for on shutdown; false,
	// without running f, once it is stopping.
	Go(f func()) bool
	// Cluster is the node's membership: members, ring and keyring.
	Cluster() *cluster.Cluster
}

// Config configures a Server.
type Config struct {
	// Name is the node's name: its part of a cluster-wide answer.
	Name string
	// Pool dials the other members for cluster-wide methods.
	Pool *transport.Pool
	// LeaveTimeout bounds a leave asked for over RPC.
	LeaveTimeout time.Duration
	// Logger receives what the server logs.
	Logger hclog.Logger
}

// Server is a transport.Handler for the node's RPC port.
type Server struct {
	cfg  Config
	node Node
}

// New returns the RPC handler of node.
func New(node Node, cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	return &Server{cfg: cfg, node: node}
}

var _ transport.Handler = (*Server)(nil)

// ServeRPC answers requests from clients and peers. It runs on the
// connection's reader goroutine and does not block.
func (s *Server) ServeRPC(req *transport.Request, r transport.Reply) {
	n := s.node
	if n.Starting() {
		r.Send(nil, transport.NewError(proto.CodeShuttingDown, errors.New("node: still starting")))
		return
	}
	if err := n.Permit(req); err != nil {
		r.Send(nil, rpcError(err))
		return
	}
	switch req.Method {
	case proto.MethodStatus:
		r.Send(n.Status(), nil)
	case proto.MethodMembers:
		r.Send(s.Members(), nil)
	case proto.MethodRing:
		resp, err := s.ring()
		r.Send(resp, rpcError(err))
	case proto.MethodOwner:
		var in proto.OwnerRequest
		if decode(req, r, &in) {
			out, err := n.Owner(in.Store, in.Key)
			r.Send(out, rpcError(err))
		}
	case proto.MethodLeave:
		// Answer first: the leave closes this connection. Leave runs on a
		// goroutine of its own, not Go's, which the node's leave itself
		// waits for; it ends when the leave does, bounded by LeaveTimeout.
		r.Send(nil, nil)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.LeaveTimeout)
			defer cancel()
			if err := n.Leave(ctx); err != nil && !errors.Is(err, errs.ErrShutdown) {
				s.cfg.Logger.Error("leave on request failed", "error", err)
			}
		}()
	case proto.MethodInfo:
		serveBlocking(s, req, r, s.Info)
	case proto.MethodForward:
		var in proto.ForwardRequest
		if fromPeer(req, r) && decode(req, r, &in) {
			n.ApplyForwarded(in.Ops, func(res []proto.OpResult) {
				r.Send(&proto.ForwardResponse{Results: res}, nil)
			})
		}
	case proto.MethodReplicate:
		var in proto.ReplicateRequest
		if fromPeer(req, r) && decode(req, r, &in) {
			n.Replicate(in, func(err error) { r.Send(nil, rpcError(err)) })
		}
	case proto.MethodFlush:
		serveBlocking(s, req, r, s.flush)
	case proto.MethodKeyring:
		serveBlocking(s, req, r, s.keyring)
	case proto.MethodDLQList:
		serveBlocking(s, req, r, func(_ context.Context, in proto.DLQRequest) (any, error) {
			letters, err := n.DeadLetters(in.Store)
			return proto.DLQListResponse{Letters: append([]proto.DeadLetter{}, letters...)}, err
		})
	case proto.MethodDLQReplay:
		serveBlocking(s, req, r, func(ctx context.Context, in proto.DLQRequest) (any, error) {
			return n.ReplayDeadLetters(ctx, in.Store)
		})
	default:
		if route.IsKeyMethod(req.Method) {
			s.serveOp(req, r)
			return
		}
		r.Send(nil, transport.NewError(proto.CodeInvalid, fmt.Errorf("unknown method %q", req.Method)))
	}
}

// serveOp handles a client's op on one key. It never blocks: the reply is
// sent when the owner has answered.
func (s *Server) serveOp(req *transport.Request, r transport.Reply) {
	o, err := route.RequestOp(req)
	if err != nil {
		r.Send(nil, rpcError(err))
		return
	}
	if req.Method == proto.MethodIncrAsync {
		r.Send(nil, rpcError(s.node.IncrAsync(o.Store, o.Key, o.Delta)))
		return
	}
	kind := o.Kind
	s.node.Start(&o, req.Deadline, func(res op.Result) { route.ReplyOp(r, kind, res) })
}

// fromPeer answers req as invalid, and returns false, unless a peer sent
// it (a method only members call on each other).
func fromPeer(req *transport.Request, r transport.Reply) bool {
	if req.Flags&transport.FlagForwarded == 0 {
		r.Send(nil, transport.NewError(proto.CodeInvalid, fmt.Errorf("%s is for peers only", req.Method)))
		return false
	}
	return true
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
// goroutine of the node's, replying with its result.
func serveBlocking[In, Out any](s *Server, req *transport.Request, r transport.Reply, f func(context.Context, In) (Out, error)) {
	var in In
	if !decode(req, r, &in) {
		return
	}
	if !s.node.Go(func() {
		ctx, cancel := req.Context(context.Background())
		defer cancel()
		resp, err := f(ctx, in)
		r.Send(resp, rpcError(err))
	}) {
		r.Send(nil, rpcError(errs.ErrShutdown))
	}
}

// Members lists the members the node knows, with the partitions each
// owns in its ring.
func (s *Server) Members() proto.MembersResponse {
	snap := s.node.Cluster().Ring()
	var load map[string]int
	if snap != nil {
		load = snap.Load()
	}
	var out proto.MembersResponse
	for _, m := range s.node.Cluster().Members() {
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

// ring describes the node's ring.
func (s *Server) ring() (proto.RingResponse, error) {
	snap := s.node.Cluster().Ring()
	if snap == nil {
		return proto.RingResponse{}, errs.ErrNoRing
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
