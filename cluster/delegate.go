package cluster

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// delegate receives memberlist's callbacks. memberlist calls most of them
// with its node lock held, so they only copy what they need into the
// cluster's own table, log, and signal the event loop: they never block.
// Reading a memberlist.Node outside these callbacks would race with
// memberlist's in-place updates (hashicorp/memberlist#306).
type delegate Cluster

var (
	_ memberlist.Delegate         = (*delegate)(nil)
	_ memberlist.EventDelegate    = (*delegate)(nil)
	_ memberlist.AliveDelegate    = (*delegate)(nil)
	_ memberlist.MergeDelegate    = (*delegate)(nil)
	_ memberlist.ConflictDelegate = (*delegate)(nil)
)

// refusalLogEvery bounds how often the refusal of one node is logged.
const refusalLogEvery = time.Minute

// NodeMeta returns the local node's metadata.
func (d *delegate) NodeMeta(limit int) []byte {
	b, err := (*Cluster)(d).LocalMeta().encode()
	if err != nil || len(b) > limit {
		// New checked the size; this cannot happen unless the limit shrank.
		d.logger.Error("node metadata does not fit", "limit", limit, "error", err)
		return nil
	}
	return b
}

// msgLeft opens the message a member sends each peer when it leaves
// gracefully, after its last flush: msgLeft, then its name.
const msgLeft byte = 'L'

// NotifyMsg records a member that said it has left (Cluster.sayLeft). If
// the member was already seen to go, as failed, it is now taken as left.
func (d *delegate) NotifyMsg(b []byte) {
	if len(b) < 2 || b[0] != msgLeft {
		return
	}
	name := string(b[1:])
	d.mu.Lock()
	d.saidLeft[name] = time.Now()
	m, ok := d.members[name]
	flipped := ok && m.Status == StatusFailed
	if flipped {
		m.Status = StatusLeft
	}
	d.mu.Unlock()
	if flipped {
		d.logger.Info("member left", "member", name)
		(*Cluster)(d).markDirty()
	}
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

// NotifyJoin records a member that became alive: a new incarnation of a
// member that left has not left.
func (d *delegate) NotifyJoin(n *memberlist.Node) {
	d.mu.Lock()
	delete(d.saidLeft, n.Name)
	d.mu.Unlock()
	m, err := d.record(n, StatusAlive)
	if err != nil {
		d.logger.Warn("ignoring member with bad metadata", "member", n.Name, "error", err)
		return
	}
	if n.Name != d.cfg.Name {
		d.logger.Info("member joined", "member", m.Name, "gossip", m.GossipAddr, "rpc", m.RPCAddr, "state", m.State)
		d.checkStores(m)
	}
	(*Cluster)(d).markDirty()
}

// NotifyUpdate records a member whose metadata changed.
func (d *delegate) NotifyUpdate(n *memberlist.Node) {
	m, err := d.record(n, StatusAlive)
	if err != nil {
		d.logger.Warn("ignoring member with bad metadata", "member", n.Name, "error", err)
		return
	}
	d.logger.Info("member updated", "member", m.Name, "rpc", m.RPCAddr, "state", m.State)
	d.checkStores(m)
	(*Cluster)(d).markDirty()
}

// NotifyLeave records a member that failed or left. memberlist does not
// tell the two apart here (the node's State field is not updated before the
// callback), so a member is taken to have left when it said so to this node
// (NotifyMsg). Its leaving metadata is not enough: a node that crashes in
// the middle of its leave, before its last flush, has failed.
func (d *delegate) NotifyLeave(n *memberlist.Node) {
	status := StatusFailed
	d.mu.Lock()
	if _, said := d.saidLeft[n.Name]; said || n.State == memberlist.StateLeft {
		status = StatusLeft
	}
	if m, ok := d.members[n.Name]; ok {
		m.Status = status
		m.Since = time.Now()
	}
	d.mu.Unlock()
	switch {
	case n.Name == d.cfg.Name:
	case status == StatusLeft:
		d.logger.Info("member left", "member", n.Name)
	default:
		d.logger.Warn("member failed", "member", n.Name, "gossip", addrOf(n))
	}
	(*Cluster)(d).markDirty()
}

func (d *delegate) record(n *memberlist.Node, status Status) (Member, error) {
	meta, err := decodeMeta(n.Meta)
	if err != nil {
		return Member{}, err
	}
	now := time.Now()
	m := Member{Name: n.Name, GossipAddr: addrOf(n), Meta: meta, Status: status, Since: now, Learned: now}
	d.mu.Lock()
	if old, ok := d.members[n.Name]; ok {
		if old.Status == status {
			m.Since = old.Since
		}
		if old.Origin == meta.Origin {
			m.Learned = old.Learned
		}
	}
	d.members[n.Name] = &m
	d.mu.Unlock()
	return m, nil
}

// checkStores logs a member that declares other stores than this node:
// ops for a store it lacks fail on it.
func (d *delegate) checkStores(m Member) {
	if m.Name != d.cfg.Name && m.Stores != d.cfg.Stores {
		d.logger.Warn("member declares other stores than this node; ops on stores it lacks fail there",
			"member", m.Name, "its_stores", m.Stores, "our_stores", d.cfg.Stores)
	}
}

// NotifyAlive refuses a node of another cluster or with another ring
// fingerprint: it never becomes a member.
func (d *delegate) NotifyAlive(n *memberlist.Node) error {
	if n.Name == d.cfg.Name {
		return nil
	}
	return d.check(n)
}

// NotifyMerge refuses to merge with a cluster that has any node that
// NotifyAlive would refuse, or a newcomer that carries the name of a live
// member at another address: two nodes cannot share a name. A node with
// this node's name elsewhere is noted for Join, which tells a live
// duplicate from an earlier incarnation of this node that is gone.
func (d *delegate) NotifyMerge(peers []*memberlist.Node) error {
	var live []*memberlist.Node
	for _, n := range peers {
		if n.State != memberlist.StateDead && n.State != memberlist.StateLeft {
			live = append(live, n)
		}
	}
	for _, n := range live {
		if n.Name == d.cfg.Name {
			if err := d.checkSelf(n); err != nil {
				return err
			}
			continue
		}
		// A newcomer's first join carries itself alone. A larger state is
		// a cluster rejoining, where a member at an address this node has
		// not caught up with yet is not a duplicate; memberlist keeps the
		// address it knows until the old one is found dead.
		if len(live) == 1 {
			if err := d.checkName(n); err != nil {
				return err
			}
		}
		if err := d.check(n); err != nil {
			return err
		}
	}
	return nil
}

// checkSelf notes and refuses a live node with this node's name at another
// address, unless Join found nothing answering there.
func (d *delegate) checkSelf(n *memberlist.Node) error {
	addr := addrOf(n)
	self := d.selfAddr.Load()
	if self == nil || addr == *self {
		return nil
	}
	d.mu.Lock()
	stale := d.staleSelf[addr]
	if !stale {
		d.selfElsewhere[addr] = true
	}
	d.mu.Unlock()
	if stale {
		return nil
	}
	return fmt.Errorf("a node named %s is at %s, this node is at %s", n.Name, addr, *self)
}

// checkName refuses a node that carries the name of a live member at
// another address.
func (d *delegate) checkName(n *memberlist.Node) error {
	addr := addrOf(n)
	d.mu.Lock()
	m, ok := d.members[n.Name]
	taken := ok && m.Status == StatusAlive && m.GossipAddr != addr
	var at string
	if taken {
		at = m.GossipAddr
	}
	d.mu.Unlock()
	if !taken {
		return nil
	}
	return d.refuse(n, fmt.Sprintf("member %s is alive at %s and every node needs a unique name (a node restarted on a new address gets in once its earlier incarnation is found dead)", n.Name, at))
}

func (d *delegate) check(n *memberlist.Node) error {
	meta, err := decodeMeta(n.Meta)
	var reason string
	switch {
	case err != nil:
		reason = err.Error()
	case meta.Cluster != d.cfg.Cluster:
		reason = fmt.Sprintf("it is in cluster %q, this node is in %q", meta.Cluster, d.cfg.Cluster)
	case meta.Fingerprint != d.cfg.Ring.Fingerprint():
		reason = fmt.Sprintf("its ring fingerprint %q differs from this node's %q (partitions, load and virtual nodes must match on every node)", meta.Fingerprint, d.cfg.Ring.Fingerprint())
	case decodeTrust(d.localTrust()).refusal(decodeTrust(meta.Trust)) != "":
		reason = decodeTrust(d.localTrust()).refusal(decodeTrust(meta.Trust))
	default:
		return nil
	}
	return d.refuse(n, reason)
}

// localTrust is the Trust this node announces now (it changes on
// SetTrust).
func (d *delegate) localTrust() string {
	d.metaMu.Lock()
	defer d.metaMu.Unlock()
	return d.meta.Trust
}

// refuse logs the refusal of n, at most once per refusalLogEvery for each
// node name, and returns it as an error.
func (d *delegate) refuse(n *memberlist.Node, reason string) error {
	d.mu.Lock()
	logIt := time.Since(d.refusedAt[n.Name]) > refusalLogEvery
	if logIt {
		d.refusedAt[n.Name] = time.Now()
	}
	d.refusedReason = fmt.Sprintf("member %s at %s: %s", n.Name, addrOf(n), reason)
	d.mu.Unlock()
	if logIt {
		d.logger.Error("refusing node", "member", n.Name, "gossip", addrOf(n), "reason", reason)
	}
	return fmt.Errorf("refusing node %s: %s", n.Name, reason)
}

// NotifyConflict is called when a node with our name is known at another
// address. When the other is us, peers still hold our previous incarnation
// (we restarted with a new address): re-join fast until they let it go.
// When Join found a live node with our name there, it is not us: nothing
// to re-join for. Either way the conflict is logged at most once per
// refusalLogEvery.
func (d *delegate) NotifyConflict(existing, other *memberlist.Node) {
	if existing.Name != d.cfg.Name {
		return
	}
	addr := addrOf(other)
	d.mu.Lock()
	at, taken := d.takenBy[addr]
	taken = taken && time.Since(at) < refusalLogEvery
	logIt := time.Since(d.conflictLoggedAt) > refusalLogEvery
	if logIt {
		d.conflictLoggedAt = time.Now()
	}
	d.mu.Unlock()
	if taken {
		return
	}
	d.conflictAt.Store(time.Now().UnixNano())
	if logIt {
		d.logger.Info("a node with this node's name was seen at another address (an earlier incarnation peers still know, or a duplicate); re-joining fast to assert this one",
			"other_gossip", addr)
	}
}

func addrOf(n *memberlist.Node) string {
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}
