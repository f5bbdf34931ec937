package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"time"
)

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
