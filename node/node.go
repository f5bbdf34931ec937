package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/cluster"
	"github.com/hoard-dev/hoard/internal/auth"
	"github.com/hoard-dev/hoard/internal/counter"
	"github.com/hoard-dev/hoard/internal/durability"
	"github.com/hoard-dev/hoard/internal/endpoint"
	"github.com/hoard-dev/hoard/internal/flush"
	"github.com/hoard-dev/hoard/internal/lifecycle"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/internal/ratelog"
	"github.com/hoard-dev/hoard/internal/resp"
	"github.com/hoard-dev/hoard/internal/route"
	"github.com/hoard-dev/hoard/internal/rpcserve"
	"github.com/hoard-dev/hoard/internal/stores"
	"github.com/hoard-dev/hoard/internal/tlsconf"
	"github.com/hoard-dev/hoard/ring"
	"github.com/hoard-dev/hoard/transport"
	"golang.org/x/net/netutil"
)

// MaxKeyBytes is the longest key accepted.
const MaxKeyBytes = op.MaxKeyBytes

// Node is one hoard node: membership, RPC and HTTP endpoints, and the
// stores it owns. Create it with Start; stop it with Leave (graceful: tells
// the peers) or Shutdown (flushes, then stops without telling them).
type Node struct {
	cfg     Config
	logger  hclog.Logger
	cluster *cluster.Cluster
	rpc     *transport.Server
	rpcs    *rpcserve.Server // what rpc serves
	pool    *transport.Pool
	http    *http.Server
	httpLn  net.Listener
	resp    *resp.Server // nil when RESPAddr is empty

	tls      *tlsconf.Reloader // nil when TLS is off
	tokens   *auth.Tokens      // none: tokens are off
	refusals *ratelog.Logger   // the log lines of refused requests

	stores *stores.Set // fixed after Start
	dlq    *flush.DeadLetters
	async  *counter.Aggregator
	router *route.Router

	keeper   *durability.Keeper // origin, write-ahead log, replication, recovery
	ringSeen atomic.Uint64      // version of the last ring the stores were told of
	// outOfRing, set by Leave, is closed by watchRing once the stores were
	// told of a ring without this node.
	outOfRing atomic.Pointer[chan struct{}]

	// exposed counts the ops applied here and not yet delivered or
	// dead-lettered. Every write changes it: it has a cache line of its
	// own, so that the fields read on every op do not bounce between
	// cores with it.
	exposed struct {
		_ [64]byte
		atomic.Int64
		_ [64]byte
	}
	asyncLost atomic.Int64 // async increments given up on

	leaveErr atomic.Pointer[error]

	loopCtx    context.Context    // ends when the node starts stopping
	loopCancel context.CancelFunc // stops the flush and async loops
	loopWG     sync.WaitGroup

	life *lifecycle.Lifecycle
}

// refusing reports whether the node refuses new ops.
func (n *Node) refusing() bool { return n.life.Refusing() }

// Start validates cfg, binds the RPC, HTTP and gossip ports, joins the
// cluster through cfg.Join and returns the running node. A join that fails
// at start is logged and retried in the background: the node serves as a
// cluster of one meanwhile. Errors wrap ErrInvalidConfig, or say which port
// could not be bound.
func Start(ctx context.Context, cfg *Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{
		cfg:    *cfg,
		logger: cfg.Logger,
		dlq:    flush.NewDeadLetters(filepath.Join(cfg.DataDir, "deadletter")),
		async:  counter.NewAggregator(),
		life:   lifecycle.New(),
	}
	if n.logger == nil {
		n.logger = hclog.NewNullLogger()
	}
	n.refusals = ratelog.New(n.logger, 0)
	n.cfg.withDefaults()
	var err error
	if n.tokens, err = auth.NewTokens(cfg.Tokens); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if cfg.TLS.Enabled() {
		if n.tls, err = tlsconf.New(cfg.TLS); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	n.loopCtx, n.loopCancel = loopCtx, cancel
	// fail closes what was opened when Start cannot go on.
	var closers []func() error
	fail := func(err error) (*Node, error) {
		cancel()
		for _, c := range closers {
			_ = c()
		}
		return nil, fmt.Errorf("node: %w", err)
	}
	tcfg := n.transportConfig()
	if n.pool, err = transport.NewPool(tcfg); err != nil {
		return fail(err)
	}
	closers = append(closers, n.pool.Close)
	// The durability keeper first (this incarnation's origin and log), then
	// the stores that write to it, then what earlier incarnations logged
	// and did not deliver: all before the node serves.
	if n.keeper, err = durability.Open(n.durabilityConfig()); err != nil {
		return fail(err)
	}
	closers = append(closers, func() error { return n.keeper.Close(context.Background(), false, 0) })
	n.stores = stores.NewSet(cfg.Stores, n.storeDeps())
	n.keeper.Recover(ctx)
	n.rpcs = n.rpcServer()
	if n.rpc, err = transport.Listen(cfg.RPCAddr, tcfg, n.rpcs); err != nil {
		return fail(err)
	}
	closers = append(closers, n.rpc.Close)
	// Advertise the bound address, which matters when the port was 0; a
	// wildcard host is advertised as the gossip host peers already reach.
	gossipHost := cfg.gossipHost()
	n.cfg.RPCAddr = endpoint.Advertisable(n.rpc.Addr(), cfg.RPCAddr, gossipHost)
	if cfg.HTTPAddr != "" {
		if n.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return fail(fmt.Errorf("listen http %s: %w", cfg.HTTPAddr, err))
		}
		closers = append(closers, n.httpLn.Close)
		n.cfg.HTTPAddr = endpoint.Advertisable(n.httpLn.Addr(), cfg.HTTPAddr, gossipHost)
		n.httpLn = netutil.LimitListener(n.httpLn, n.cfg.MaxConns)
		if n.tls != nil {
			n.httpLn = tls.NewListener(n.httpLn, n.tls.ServerConfig())
		}
	}
	if cfg.RESPAddr != "" {
		if n.resp, err = n.listenRESP(); err != nil {
			return fail(err)
		}
		closers = append(closers, n.resp.Close)
	}
	ccfg := n.cfg.clusterConfig()
	ccfg.Logger = n.logger.Named("cluster")
	ccfg.Origin = n.keeper.Origin()
	ccfg.Trust = n.trust()
	if n.cluster, err = cluster.New(ccfg); err != nil {
		return fail(err)
	}
	if n.httpLn != nil {
		n.startHTTP()
	}

	n.router = route.New(route.Config{
		Name: cfg.Name, Ring: n.cluster.Ring, Watch: n.cluster.Watch, Pool: n.pool, Resolve: n.resolve,
		Refusing: n.refusing, Go: n.goFunc, Stop: n.life.Background(), Logger: n.logger,
	})
	for _, s := range n.stores.All() {
		n.loopWG.Go(func() { s.Engine.Run(loopCtx) })
	}
	n.loopWG.Go(func() { n.asyncLoop(loopCtx) })
	n.goFunc(n.watchRing)
	n.goFunc(n.router.Run)
	if n.resp != nil {
		n.goFunc(func() { _ = n.resp.Serve() }) // until n.resp.Close
	}
	n.life.Serve()

	if len(cfg.Join) > 0 {
		if k, err := n.cluster.Join(ctx); errors.Is(err, cluster.ErrNameTaken) || errors.Is(err, cluster.ErrRefused) {
			_ = n.stop(context.Background(), false, false)
			return nil, fmt.Errorf("node: %w", err)
		} else if err != nil {
			n.logger.Warn("could not join the cluster yet; retrying in the background", "seeds", cfg.Join, "error", err)
		} else {
			n.logger.Info("joined the cluster", "seeds_reached", k)
			// See the peers before seeding caches, two seconds at most.
			n.cluster.WaitForPeers(ctx, 2*time.Second)
		}
	}
	if err := n.seedCaches(ctx); err != nil {
		_ = n.stop(context.Background(), false, false)
		return nil, err
	}
	n.logger.Info("node started", "name", cfg.Name, "cluster", n.cfg.Cluster,
		"gossip", n.cluster.GossipAddr(), "rpc", n.cfg.RPCAddr, "http", n.cfg.HTTPAddr,
		"stores", len(n.stores.All()), "version", Version)
	return n, nil
}

// goFunc runs f on a goroutine that Shutdown waits for. It returns false,
// without running f, once the node is stopping.
func (n *Node) goFunc(f func()) bool { return n.life.Go(f) }

// Name is the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// RPCAddr is the address the RPC listener is bound to.
func (n *Node) RPCAddr() string { return n.cfg.RPCAddr }

// HTTPAddr is the address of the HTTP endpoint, "" when disabled.
func (n *Node) HTTPAddr() string { return n.cfg.HTTPAddr }

// GossipAddr is the address peers gossip with this node on.
func (n *Node) GossipAddr() string { return n.cluster.GossipAddr() }

// Ring returns the node's current ring snapshot (lock-free). It is nil only
// while the node is leaving and knows no other live member.
func (n *Node) Ring() *ring.Snapshot { return n.cluster.Ring() }

// Members returns the members this node knows, sorted by name.
func (n *Node) Members() []cluster.Member { return n.cluster.Members() }

// Placement is where a key lives.
type Placement struct {
	Partition int
	Owner     ring.Member
	Backups   []ring.Member
	Version   uint64 // of the ring that placed it
}

// Owner tells where key of store lives in this node's current ring. Errors:
// ErrInvalidKey, ErrNoRing.
func (n *Node) Owner(store, key string) (Placement, error) {
	if err := op.CheckKey(store, key); err != nil {
		return Placement{}, err
	}
	snap := n.cluster.Ring()
	if snap == nil {
		return Placement{}, ErrNoRing
	}
	p, owner := snap.Locate(store, key)
	return Placement{Partition: p, Owner: owner, Backups: snap.Backups(p), Version: snap.Version()}, nil
}

// Ready reports whether the node serves: running, not leaving, part of its
// own ring, and done telling its stores of the ring's last change. The
// reason says why not.
func (n *Node) Ready() (bool, string) {
	switch n.life.State() {
	case lifecycle.Stopping, lifecycle.Stopped:
		return false, "shut down"
	case lifecycle.Leaving:
		return false, "leaving"
	}
	snap := n.cluster.Ring()
	if snap == nil {
		return false, "no ring"
	}
	if _, ok := snap.Member(n.cfg.Name); !ok {
		return false, "not in the ring yet"
	}
	if n.ringSeen.Load() != snap.Version() {
		return false, "handling a ring change"
	}
	return true, "ready"
}

// HandingOff reports whether a store is still flushing partitions after a
// ring change (those the node lost, or whose backups changed): what it held
// for them may still move to the sink. A node is Ready meanwhile; tests
// that read a store's unflushed state wait for this to end
// (testcluster.WaitConverged).
func (n *Node) HandingOff() bool {
	for _, s := range n.stores.All() {
		if s.HandingOff() {
			return true
		}
	}
	return false
}

// Leave leaves the cluster gracefully: it announces the node as leaving so
// peers route its keys to their new owners at once, stops taking writes,
// sends pending async increments on, flushes every store (what cannot be
// delivered goes to the dead-letter), leaves the gossip and shuts down, all
// within the context's deadline. Idempotent; after Shutdown it returns
// ErrShutdown.
func (n *Node) Leave(ctx context.Context) error {
	first, was, left := n.life.Leave()
	switch {
	case first:
	case was >= lifecycle.Stopping && !left:
		// Shut down (or shutting down) without leaving: wait, then say so.
		if err := n.life.Wait(ctx); err != nil {
			return err
		}
		return ErrShutdown
	default:
		// A leave is under way (a `hoard leave`, say): wait for it to end,
		// so a caller that exits afterwards does not cut its flush short.
		return n.life.Wait(ctx)
	}
	n.logger.Info("leaving the cluster")
	var errs []error
	for _, s := range n.stores.All() { // dumps hold what the node held, before it hands it over
		if c, ok := s.Engine.(interface{ PrepareLeave() error }); ok {
			errs = append(errs, c.PrepareLeave())
		}
	}
	out := make(chan struct{})
	n.outOfRing.Store(&out)
	if err := n.cluster.SetLeaving(ctx); err != nil {
		errs = append(errs, err)
	} else {
		n.handOver(ctx, out)
	}
	errs = append(errs, n.stop(ctx, true, true))
	err := errors.Join(errs...)
	if err != nil {
		n.leaveErr.Store(&err)
	}
	return err
}

// LeaveErr returns what went wrong in the node's graceful leave, nil if it
// went well or has not happened. An agent that left on `hoard leave`
// reports it.
func (n *Node) LeaveErr() error {
	if p := n.leaveErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Shutdown stops the node without telling its peers (they see it fail after
// the failure-detection time): it stops taking writes, sends pending async
// increments on, flushes every store (dead-lettering what cannot be
// delivered) and waits for its goroutines, within the context's deadline.
// Idempotent.
func (n *Node) Shutdown(ctx context.Context) error {
	return n.stop(ctx, true, false)
}

// Kill stops the node as a crash would: nothing is flushed, peers are not
// told. What the node held unflushed is lost. It exists to test what a crash
// loses; use Shutdown or Leave otherwise.
func (n *Node) Kill() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = n.stop(ctx, false, false)
}

// stop runs the shutdown sequence once; later calls wait for it.
func (n *Node) stop(ctx context.Context, flush, leave bool) error {
	if !n.life.Stop(leave) {
		return n.life.Wait(ctx)
	}
	defer n.life.Finish()

	var errs []error // errors.Join drops the nils
	if n.resp != nil {
		// No new RESP commands; those in flight finish first.
		errs = append(errs, n.resp.Close())
	}
	// Stop the loops first: a flush or async round in progress gives way
	// (its data is kept for what follows).
	n.loopCancel()
	n.loopWG.Wait()
	if flush {
		errs = append(errs, n.drainAsync(ctx))
		for _, s := range n.stores.All() {
			errs = append(errs, s.Engine.Close(ctx))
		}
	}
	// After a crash (no final flush) every log stays for the next start.
	errs = append(errs, n.keeper.Close(ctx, flush, n.exposed.Load()))

	n.life.EndBackground()
	n.router.Close()
	if leave {
		errs = append(errs, n.cluster.Leave(ctx))
	} else {
		errs = append(errs, n.cluster.Shutdown(ctx))
	}
	errs = append(errs, n.rpc.Close())
	if n.http != nil {
		errs = append(errs, n.http.Shutdown(ctx))
	}
	_ = n.pool.Close()
	if err := n.life.WaitGoroutines(ctx); err != nil {
		errs = append(errs, fmt.Errorf("node: %w", err))
	}
	n.logger.Info("node stopped")
	return errors.Join(errs...)
}

// untilStop returns a context that also ends when the node starts
// stopping, so a manual flush or replay gives way to the final flush.
func (n *Node) untilStop(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(n.loopCtx, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// Done is closed once the node has stopped, by Leave, Shutdown or Kill,
// whoever asked (a `hoard leave` arrives over RPC).
func (n *Node) Done() <-chan struct{} { return n.life.Done() }
