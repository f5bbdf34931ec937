package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
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
