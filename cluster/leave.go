package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/hoard-dev/hoard/ring"
)

// SetLeaving marks the node as leaving in its gossiped metadata and waits,
// within the context's deadline, for the update to be sent, so peers drop
// it from their rings at once. The node also drops itself from its own
// ring. The wait ends early once no peer is left in the ring to drop it:
// memberlist gossips only to live members, so when the last members leave
// at once the update may never go out, and nobody needs it.
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
	end := time.Now().Add(timeoutOf(ctx, 5*time.Second))
	for {
		// Each round sends the update afresh, for as long as a healthy
		// cluster takes to spread it (leaveBroadcastWait).
		err := c.ml.UpdateNode(max(min(time.Until(end), c.leaveBroadcastWait()), time.Millisecond))
		switch {
		case err == nil:
			return nil
		case !hasPeer(c.Ring(), c.cfg.Name):
			c.logger.Debug("leaving update not sent out; no peer is left in the ring to tell", "error", err)
			return nil
		case !time.Now().Before(end):
			return fmt.Errorf("cluster: announce leaving: %w", err)
		}
	}
}

// hasPeer reports whether snap holds a member other than self.
func hasPeer(snap *ring.Snapshot, self string) bool {
	if snap == nil {
		return false
	}
	for _, m := range snap.Members() {
		if m.Name != self {
			return true
		}
	}
	return false
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
