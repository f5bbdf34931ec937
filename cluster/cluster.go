package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"

	"github.com/hoard-dev/hoard/ring"
)

// ErrShutdown is returned by calls on a Cluster that has been shut down.
var ErrShutdown = errors.New("cluster: shut down")

// ErrNoSeeds is returned by Join when none of the seeds could be reached.
var ErrNoSeeds = errors.New("cluster: no seed reachable")

// ErrNameTaken is returned by Join when a live member of the cluster
// already has this node's name: the node cannot be a member under it.
// A node that meets it on its first Join stops re-joining; shut it down and
// start it again under another name.
var ErrNameTaken = errors.New("cluster: name taken")

// ErrRefused is returned by Join when this node refused every seed it
// reached, for a reason that will not pass by itself (another cluster
// name, ring fingerprint or TLS trust: see Config.Trust); the error says
// which.
var ErrRefused = errors.New("cluster: refused the cluster's members")

// fastRejoin is the re-join period while the node has not joined yet, or
// while peers still hold an older incarnation of it.
const fastRejoin = time.Second

// conflictWindow is how long after peers were last seen holding an older
// incarnation of this node it keeps re-joining fast.
const conflictWindow = 30 * time.Second

// forgetAfter is how long a failed or departed member stays listed.
const forgetAfter = time.Hour

// Cluster is one node's view of the cluster: its members, gossiped over
// memberlist, and the ring built from them. Ring lookups never block.
type Cluster struct {
	cfg    Config
	logger hclog.Logger
	ml     *memberlist.Memberlist
	self   string // advertised gossip address, never re-joined

	// keyring holds the gossip keys; nil when gossip is in the clear.
	// keyMu serializes its changes and the keyring file's writes.
	keyring *memberlist.Keyring
	keyMu   sync.Mutex

	gossipInterval time.Duration // memberlist's, for leaveBroadcastWait

	// metaMu guards meta.
	metaMu sync.Mutex
	meta   Meta

	// mu guards members, saidLeft, refusedAt, selfElsewhere, staleSelf,
	// takenBy and conflictLoggedAt.
	mu        sync.Mutex
	members   map[string]*Member
	saidLeft  map[string]time.Time // members that said they flushed and are leaving, and when
	refusedAt map[string]time.Time // last time a refusal of that node was logged
	// refusedReason is the last refusal of a node during Join, which
	// clears it: the reason a join that reached no one failed.
	refusedReason string
	// selfElsewhere lists the gossip addresses a join merge said a live node
	// with this node's name is at; Join checks each (see Join).
	selfElsewhere map[string]bool
	// staleSelf lists addresses of this node's earlier incarnations, found
	// dead by Join: a merge that still lists them as alive is let through.
	staleSelf map[string]bool
	// takenBy lists addresses where a live node with this node's name
	// answered, and when: conflicts about them do not trigger fast re-joins.
	takenBy          map[string]time.Time
	conflictLoggedAt time.Time

	selfAddr  atomic.Pointer[string] // c.self, for callbacks that may run before New returns
	joinMu    sync.Mutex             // serializes Join
	nameTaken atomic.Pointer[error]  // set when the first Join found the name taken

	view       atomic.Pointer[ringView]
	version    uint64 // last published ring version; eventLoop only
	joined     atomic.Bool
	conflictAt atomic.Int64 // unix nanos of the last conflict about this node

	dirty chan struct{} // capacity 1: membership changed

	// lifeMu guards left and stopped.
	lifeMu     sync.Mutex
	left       bool
	stopped    bool
	shutdownCh chan struct{}
	wg         sync.WaitGroup
}

// ringView is a published ring and the channel closed when it is replaced.
type ringView struct {
	snap    *ring.Snapshot
	changed chan struct{}
}

// New validates cfg, binds the gossip port and starts the node as a cluster
// of one. Call Join to meet the others. Errors wrap ErrInvalidConfig, or
// report why the gossip port could not be bound.
func New(cfg Config) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Cluster == "" {
		cfg.Cluster = DefaultCluster
	}
	if cfg.RejoinInterval == 0 {
		cfg.RejoinInterval = 15 * time.Second
	}
	if cfg.Debounce == 0 {
		cfg.Debounce = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	c := &Cluster{
		cfg:           cfg,
		logger:        cfg.Logger,
		members:       make(map[string]*Member),
		saidLeft:      make(map[string]time.Time),
		refusedAt:     make(map[string]time.Time),
		selfElsewhere: make(map[string]bool),
		staleSelf:     make(map[string]bool),
		takenBy:       make(map[string]time.Time),
		dirty:         make(chan struct{}, 1),
		meta: Meta{
			Cluster:     cfg.Cluster,
			RPCAddr:     cfg.RPCAddr,
			HTTPAddr:    cfg.HTTPAddr,
			State:       StateAlive,
			Version:     cfg.Version,
			Fingerprint: cfg.Ring.Fingerprint(),
			Stores:      cfg.Stores,
			Origin:      cfg.Origin,
			Trust:       cfg.Trust.encode(),
		},
		shutdownCh: make(chan struct{}),
	}
	if b, err := c.meta.encode(); err != nil || len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("%w: node metadata does not fit in %d bytes (shorten the addresses or cluster name)", ErrInvalidConfig, memberlist.MetaMaxSize)
	}
	kr, fromFile, err := loadKeyring(&c.cfg)
	if err != nil {
		return nil, err
	}
	c.keyring = kr
	if fromFile && len(cfg.EncryptKey) > 0 && !bytes.Equal(kr.GetPrimaryKey(), cfg.EncryptKey) {
		c.logger.Info("gossip keys read from the keyring file, which wins over the configured key (it was rotated)", "file", cfg.KeyringFile)
	}
	mlc, err := c.memberlistConfig()
	if err != nil {
		return nil, err
	}
	ml, err := memberlist.Create(mlc)
	if err != nil {
		return nil, fmt.Errorf("cluster: start gossip on %s: %w", cfg.BindAddr, err)
	}
	c.ml = ml
	c.gossipInterval = mlc.GossipInterval
	local := ml.LocalNode()
	c.self = net.JoinHostPort(local.Addr.String(), strconv.Itoa(int(local.Port)))
	c.selfAddr.Store(&c.self)

	// Publish the ring of one before anything can look it up.
	c.view.Store(&ringView{changed: make(chan struct{})})
	c.rebuild()

	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		c.eventLoop()
	}()
	go func() {
		defer c.wg.Done()
		c.rejoinLoop()
	}()
	return c, nil
}

func (c *Cluster) memberlistConfig() (*memberlist.Config, error) {
	var mlc memberlist.Config
	if c.cfg.Memberlist != nil {
		mlc = *c.cfg.Memberlist
	} else {
		mlc = *memberlist.DefaultLANConfig()
		mlc.DeadNodeReclaimTime = defaultDeadNodeReclaimTime
	}
	host, port, err := splitHostPort(c.cfg.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("%w: bind address: %w", ErrInvalidConfig, err)
	}
	mlc.Name = c.cfg.Name
	mlc.BindAddr = host
	mlc.BindPort = port
	mlc.AdvertiseAddr, mlc.AdvertisePort = "", port
	if c.cfg.AdvertiseAddr != "" {
		ahost, aport, err := splitHostPort(c.cfg.AdvertiseAddr)
		if err != nil {
			return nil, fmt.Errorf("%w: advertise address: %w", ErrInvalidConfig, err)
		}
		mlc.AdvertiseAddr, mlc.AdvertisePort = ahost, aport
	}
	mlc.Label = c.cfg.Cluster
	mlc.SecretKey = nil
	mlc.Keyring = c.keyring
	mlc.GossipVerifyIncoming = c.keyring != nil
	mlc.GossipVerifyOutgoing = c.keyring != nil
	mlc.Delegate = (*delegate)(c)
	mlc.Events = (*delegate)(c)
	mlc.Alive = (*delegate)(c)
	mlc.Merge = (*delegate)(c)
	mlc.Conflict = (*delegate)(c)
	mlc.Logger = log.New(&conflictFilter{
		w:     c.logger.Named("memberlist").StandardWriter(&hclog.StandardLoggerOptions{InferLevels: true}),
		every: refusalLogEvery,
	}, "", 0)
	mlc.LogOutput = nil
	return &mlc, nil
}

// Join contacts the seeds (Config.Join when addrs is empty) and merges with
// their cluster. It returns how many answered, and ErrNoSeeds wrapped with
// the last error when none did. A node keeps re-joining its seeds in the
// background, so a failed Join at start is retried.
//
// When a seed knows a node with this node's name at another address and
// a node answers there to that name, Join returns ErrNameTaken (with the
// number of the other seeds that answered). After such a first Join the
// node stops re-joining and every later Join returns the same error; a
// member that meets it when re-joining keeps its place. An earlier
// incarnation of this node that no longer answers is not a conflict: peers
// let its name go once they find it dead.
//
// The context's deadline is not honoured by memberlist itself; the call
// takes at most about memberlist's TCPTimeout per seed, plus a few probe
// timeouts when a node with this name seems to be elsewhere.
func (c *Cluster) Join(ctx context.Context, addrs ...string) (int, error) {
	if len(addrs) == 0 {
		addrs = c.cfg.Join
	}
	if err := c.alive(); err != nil {
		return 0, err
	}
	if p := c.nameTaken.Load(); p != nil {
		return 0, *p
	}
	seeds := slices.DeleteFunc(slices.Clone(addrs), func(a string) bool { return a == c.self })
	if len(seeds) == 0 {
		return 0, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	c.joinMu.Lock()
	defer c.joinMu.Unlock()
	var (
		n   int
		err error
	)
	// A seed whose cluster has a live node with this node's name at another
	// address is refused (NotifyMerge); each round checks one such address.
	// If nothing answers there, it was this node's earlier incarnation and
	// the next round lets it through. A few rounds cover any real case.
	for range 3 {
		c.mu.Lock()
		clear(c.selfElsewhere)
		c.refusedReason = ""
		c.mu.Unlock()
		n, err = c.ml.Join(seeds)
		other := c.claimedElsewhere()
		if other == "" {
			break
		}
		if c.answersAsSelf(other) {
			return n, c.nameTakenBy(other)
		}
		c.logger.Info("peers still know an earlier incarnation of this node, which does not answer; joining anyway", "old_gossip", other)
		c.mu.Lock()
		c.staleSelf[other] = true
		c.mu.Unlock()
	}
	if n == 0 {
		c.mu.Lock()
		reason := c.refusedReason
		c.mu.Unlock()
		if reason != "" {
			return 0, fmt.Errorf("%w: %s", ErrRefused, reason)
		}
		return 0, fmt.Errorf("%w: %v: %w (%s)", ErrNoSeeds, seeds, err, c.joinHint())
	}
	// A seed name that resolves to every node's address (a Kubernetes
	// headless service, a Compose service) lists this node too, and may list
	// only it while its peers start: reaching itself alone is no cluster,
	// so the re-join loop keeps its fast pace until a peer answers.
	if c.ml.NumMembers() > 1 {
		c.joined.Store(true)
	}
	return n, nil
}

// joinHint suggests what to check when no seed answered.
func (c *Cluster) joinHint() string {
	if c.keyring != nil {
		return "is the gossip key the same on every node?"
	}
	return "is the seed up? if the cluster encrypts its gossip, set encrypt to its key"
}

// claimedElsewhere returns an address a join merge said a node with this
// node's name is at, or "".
func (c *Cluster) claimedElsewhere() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for addr := range c.selfElsewhere {
		return addr
	}
	return ""
}

// answersAsSelf reports whether a node answers at addr to a ping for this
// node's name. It tries a few times: one lost datagram must not make two
// nodes share a name.
func (c *Cluster) answersAsSelf(addr string) bool {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return false
	}
	for range 3 {
		if c.alive() != nil {
			return false
		}
		if _, err := c.ml.Ping(c.cfg.Name, ua); err == nil {
			return true
		}
	}
	return false
}

// nameTakenBy records that a live node with this node's name is at addr,
// logs it and returns the ErrNameTaken error Join returns. A node that
// never joined stops re-joining; a member keeps its place and logs the
// conflict at most once per refusalLogEvery.
func (c *Cluster) nameTakenBy(addr string) error {
	err := fmt.Errorf("%w: node name %q is already used by the member at %s; every node needs a unique name", ErrNameTaken, c.cfg.Name, addr)
	c.mu.Lock()
	for a, at := range c.takenBy {
		if time.Since(at) > refusalLogEvery {
			delete(c.takenBy, a)
		}
	}
	c.takenBy[addr] = time.Now()
	logIt := time.Since(c.conflictLoggedAt) > refusalLogEvery
	if logIt {
		c.conflictLoggedAt = time.Now()
	}
	c.mu.Unlock()
	c.conflictAt.Store(0)
	if !c.joined.Load() {
		c.nameTaken.Store(&err)
		c.logger.Error("cannot join: this node's name is taken", "name", c.cfg.Name, "other_gossip", addr)
	} else if logIt {
		c.logger.Error("another live node uses this node's name; it was refused, this node keeps its place", "name", c.cfg.Name, "other_gossip", addr)
	}
	return err
}

// Ring returns the current ring snapshot without locking. It is nil only
// when no member can own partitions (this node is leaving and no other is
// alive).
func (c *Cluster) Ring() *ring.Snapshot { return c.view.Load().snap }

// Watch returns the current ring and a channel closed when a newer one is
// published. Loop on it to follow ring changes:
//
//	for {
//		snap, changed := c.Watch()
//		use(snap)
//		<-changed
//	}
func (c *Cluster) Watch() (*ring.Snapshot, <-chan struct{}) {
	v := c.view.Load()
	return v.snap, v.changed
}

// WaitForPeers waits until the ring holds another member besides this
// node, for at most timeout or until ctx ends; it reports whether it does.
// A node that just joined calls it so that what it does next routes by the
// cluster's ring rather than a ring of one.
func (c *Cluster) WaitForPeers(ctx context.Context, timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		snap, changed := c.Watch()
		if snap != nil && len(snap.Members()) > 1 {
			return true
		}
		select {
		case <-changed:
		case <-t.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// Name is the local node's name.
func (c *Cluster) Name() string { return c.cfg.Name }

// GossipAddr is the address peers gossip with this node on.
func (c *Cluster) GossipAddr() string { return c.self }

// ClusterName is the cluster's name.
func (c *Cluster) ClusterName() string { return c.cfg.Cluster }

// Members returns every member this node knows, failed and departed ones
// included for a while, sorted by name.
func (c *Cluster) Members() []Member {
	c.mu.Lock()
	out := make([]Member, 0, len(c.members))
	for _, m := range c.members {
		out = append(out, *m)
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// LocalMeta returns the metadata this node gossips.
func (c *Cluster) LocalMeta() Meta {
	c.metaMu.Lock()
	defer c.metaMu.Unlock()
	return c.meta
}

// SetTrust changes the CAs the node announces (after a certificate
// reload) and waits, within the context's deadline, for the update to be
// sent.
func (c *Cluster) SetTrust(ctx context.Context, t Trust) error {
	if err := c.alive(); err != nil {
		return err
	}
	c.metaMu.Lock()
	changed := c.meta.Trust != t.encode()
	c.meta.Trust = t.encode()
	c.metaMu.Unlock()
	if !changed {
		return nil
	}
	if err := c.ml.UpdateNode(timeoutOf(ctx, 5*time.Second)); err != nil {
		return fmt.Errorf("cluster: announce trust: %w", err)
	}
	return nil
}

// SetLeaving marks the node as leaving in its gossiped metadata and waits,
// within the context's deadline, for the update to be sent, so peers drop
// it from their rings at once. The node also drops itself from its own ring.
func (c *Cluster) SetLeaving(ctx context.Context) error {
	c.lifeMu.Lock()
	stopped := c.stopped
	c.lifeMu.Unlock()
	if stopped {
		return ErrShutdown
	}
	c.metaMu.Lock()
	c.meta.State = StateLeaving
	c.metaMu.Unlock()
	if err := c.ml.UpdateNode(timeoutOf(ctx, 5*time.Second)); err != nil {
		return fmt.Errorf("cluster: announce leaving: %w", err)
	}
	return nil
}

// Leave leaves the cluster gracefully: it announces the node as leaving,
// tells each peer directly that it has left (see sayLeft), gossips that it
// is gone, waiting for that message to go out within the context's
// deadline, then shuts down. When every live peer was told directly, the
// gossip only repeats what they know: Leave waits for it briefly
// (leaveBroadcastWait) and does not fail when it does not go out, which
// happens when the last nodes leave at once and each stops gossiping to
// the other. Idempotent; after Shutdown it returns ErrShutdown.
func (c *Cluster) Leave(ctx context.Context) error {
	c.lifeMu.Lock()
	if c.stopped {
		c.lifeMu.Unlock()
		return ErrShutdown
	}
	if c.left {
		c.lifeMu.Unlock()
		return nil
	}
	c.left = true
	c.lifeMu.Unlock()

	var errs []error
	if c.LocalMeta().State != StateLeaving {
		if err := c.SetLeaving(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	allTold := c.sayLeft(ctx)
	wait := timeoutOf(ctx, 5*time.Second)
	if allTold {
		wait = min(wait, c.leaveBroadcastWait())
	}
	if err := c.ml.Leave(wait); err != nil {
		if allTold {
			c.logger.Debug("leave broadcast not sent out in time; every live peer was told directly", "waited", wait, "error", err)
		} else {
			errs = append(errs, fmt.Errorf("cluster: leave: %w", err))
		}
	}
	c.logger.Info("left the cluster")
	errs = append(errs, c.Shutdown(ctx))
	return errors.Join(errs...)
}

// leaveBroadcastWait is how long Leave waits for its gossiped death notice
// to go out once every live peer was told directly: a few gossip rounds,
// from half a second to two.
func (c *Cluster) leaveBroadcastWait() time.Duration {
	return min(max(10*c.gossipInterval, 500*time.Millisecond), 2*time.Second)
}

// sayLeft tells every live peer, each over its own TCP connection, that
// this node has left: it has flushed what it held and will not come back
// under this incarnation. A peer sees a member that said so go as left, one
// that did not as failed, whose held replicas it then delivers itself.
// Gossip alone cannot carry this: the leaving metadata is superseded in the
// peers' gossip queues by the node's own death notice, so a peer that heard
// neither from the node itself would take a graceful leave for a crash. A
// peer that cannot be told within the context's deadline sees a failure:
// it then delivers ops that were delivered already, which a
// position-recording sink skips; nothing is lost. sayLeft reports whether
// every live peer was told.
func (c *Cluster) sayLeft(ctx context.Context) bool {
	msg := append([]byte{msgLeft}, c.cfg.Name...)
	var peers []*memberlist.Node
	c.mu.Lock()
	for _, m := range c.members {
		if m.Name == c.cfg.Name || m.Status != StatusAlive {
			continue
		}
		host, port, err := net.SplitHostPort(m.GossipAddr)
		p, perr := strconv.Atoi(port)
		if err != nil || perr != nil {
			continue
		}
		peers = append(peers, &memberlist.Node{Name: m.Name, Addr: net.ParseIP(host), Port: uint16(p)})
	}
	c.mu.Unlock()

	done := make(chan bool, len(peers))
	for _, p := range peers {
		c.wg.Add(1) // Shutdown waits; each send ends within memberlist's TCPTimeout
		go func() {
			defer c.wg.Done()
			err := c.ml.SendReliable(p, msg)
			// A peer that said it left, and may be gone already, needs no telling.
			ok := err == nil || c.hasSaidLeft(p.Name)
			if !ok {
				c.logger.Warn("cannot tell a peer this node has left; it will see a failure", "member", p.Name, "error", err)
			}
			done <- ok
		}()
	}
	all := true
	for range peers {
		select {
		case ok := <-done:
			all = all && ok
		case <-ctx.Done():
			return false
		}
	}
	return all
}

// hasSaidLeft reports whether the member said it has left.
func (c *Cluster) hasSaidLeft(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.saidLeft[name]
	return ok
}

// Shutdown stops gossip without telling the peers (they will see the node
// fail) and waits for the cluster's goroutines, within the context's
// deadline. Idempotent.
func (c *Cluster) Shutdown(ctx context.Context) error {
	c.lifeMu.Lock()
	if !c.stopped {
		c.stopped = true
		close(c.shutdownCh)
	}
	c.lifeMu.Unlock()

	err := c.ml.Shutdown()
	done := make(chan struct{})
	go func() {
		c.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("cluster: shutdown: %w", ctx.Err())
	}
	return err
}

func (c *Cluster) alive() error {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.stopped || c.left {
		return ErrShutdown
	}
	return nil
}

// timeoutOf converts the context's deadline into a timeout for memberlist
// calls that take one, with def when there is none.
func timeoutOf(ctx context.Context, def time.Duration) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return max(time.Until(dl), time.Millisecond)
	}
	return def
}

// markDirty tells the event loop membership changed. It never blocks.
func (c *Cluster) markDirty() {
	select {
	case c.dirty <- struct{}{}:
	default:
	}
}

// eventLoop turns bursts of membership events into one new ring each.
func (c *Cluster) eventLoop() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-c.dirty:
		case <-c.shutdownCh:
			return
		}
		timer.Reset(c.cfg.Debounce)
		deadline := time.Now().Add(10 * c.cfg.Debounce) // never debounce forever
	quiet:
		for {
			select {
			case <-c.dirty:
				if time.Now().Before(deadline) {
					timer.Reset(c.cfg.Debounce)
				}
			case <-timer.C:
				break quiet
			case <-c.shutdownCh:
				return
			}
		}
		c.rebuild()
	}
}

// rebuild builds a ring from the current members and publishes it if its
// membership differs from the current one.
func (c *Cluster) rebuild() {
	fp := c.cfg.Ring.Fingerprint()
	var members []ring.Member
	c.mu.Lock()
	now := time.Now()
	for name, at := range c.saidLeft {
		if now.Sub(at) > forgetAfter {
			delete(c.saidLeft, name)
		}
	}
	for name, m := range c.members {
		if m.Status != StatusAlive && now.Sub(m.Since) > forgetAfter {
			delete(c.members, name)
			continue
		}
		if m.InRing() && m.Cluster == c.cfg.Cluster && m.Fingerprint == fp {
			members = append(members, ring.Member{Name: m.Name, Addr: m.RPCAddr})
		}
	}
	c.mu.Unlock()

	old := c.view.Load()
	var snap *ring.Snapshot
	if len(members) > 0 {
		var err error
		snap, err = ring.New(c.cfg.Ring, c.version+1, members)
		if err != nil {
			c.logger.Error("cannot build ring; keeping the previous one", "members", len(members), "error", err)
			return
		}
		if old.snap != nil && old.snap.Checksum() == snap.Checksum() {
			return
		}
	} else if old.snap == nil && c.version > 0 {
		return
	}
	c.version++
	c.view.Store(&ringView{snap: snap, changed: make(chan struct{})})
	close(old.changed)
	c.logger.Debug("ring updated", "version", c.version, "members", len(members))
}

// rejoinLoop contacts the seeds again and again: fast until the first join
// succeeds or while peers hold an older incarnation of this node, then every
// RejoinInterval. This heals a cluster split by a network partition.
func (c *Cluster) rejoinLoop() {
	if len(c.cfg.Join) == 0 {
		return
	}
	timer := time.NewTimer(stagger(fastRejoin))
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
		case <-c.shutdownCh:
			return
		}
		fast := !c.joined.Load() || time.Since(time.Unix(0, c.conflictAt.Load())) < conflictWindow
		if fast || c.cfg.RejoinInterval > 0 {
			n, err := c.Join(context.Background())
			switch {
			case c.nameTaken.Load() != nil:
				return // Join logged it; the node cannot be a member
			case errors.Is(err, ErrNameTaken):
				// Join logged it, at most once per refusalLogEvery.
			case err != nil && !errors.Is(err, ErrShutdown):
				c.logger.Debug("re-join failed", "seeds", c.cfg.Join, "error", err)
			case n > 0 && fast:
				c.logger.Debug("re-joined", "seeds_reached", n)
			}
		}
		next := c.cfg.RejoinInterval
		if fast || next <= 0 {
			next = fastRejoin
		}
		timer.Reset(stagger(next))
	}
}

// stagger returns d plus or minus up to a quarter, so nodes do not act in
// lockstep.
func stagger(d time.Duration) time.Duration {
	q := int64(d / 4)
	if q <= 0 {
		return d
	}
	return d - time.Duration(q) + time.Duration(rand.Int64N(2*q))
}
