package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hoard-dev/hoard/cluster"
	"github.com/hoard-dev/hoard/internal/auth"
	"github.com/hoard-dev/hoard/internal/lifecycle"
	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/transport"
)

// transportConfig is the RPC configuration of the node's listener and of
// its connections to peers: TLS when on, the peer proof, who may connect
// (authorize) and the connection limits.
func (n *Node) transportConfig() *transport.Config {
	c := &transport.Config{
		Cluster: n.cfg.Cluster, Name: n.cfg.Name, Logger: n.logger.Named("rpc"),
		Proof: n.peerProof, Authorize: n.authorize,
		MaxConns: n.cfg.MaxConns, IdleTimeout: n.cfg.IdleTimeout,
	}
	if n.tls != nil {
		c.ServerTLS = n.tls.ServerConfig()
		c.ClientTLSFor = n.tls.ClientConfigFor
	}
	return c
}

// trust is what peers check of this node's TLS before they admit it.
func (n *Node) trust() cluster.Trust {
	if n.tls == nil {
		return cluster.Trust{}
	}
	issuer, cas := n.tls.Trust()
	return cluster.Trust{On: true, Issuer: issuer, CAs: cas}
}

// authorize decides who a new RPC connection is (transport.Config's
// Authorize; auth.Gate says how). The node refuses while it starts: the
// keyring that tells peers apart is not there yet.
func (n *Node) authorize(h transport.Hello, _ *tls.ConnectionState) (any, error) {
	if n.life.State() == lifecycle.Starting {
		return nil, errors.New("the node is still starting; try again")
	}
	gate := auth.Gate{Tokens: n.tokens, Keys: func() [][]byte { keys, _ := n.cluster.Keys(); return keys }}
	return gate.Admit(h.Name, h.Token, h.Proof)
}

// peerProof is what this node shows peers it connects to: a secret derived
// from its primary gossip key; "" with encryption off.
func (n *Node) peerProof() string {
	if n.life.State() == lifecycle.Starting {
		return "" // no keyring yet; peers are dialled once the node serves
	}
	if _, primary := n.cluster.Keys(); primary != nil {
		return auth.PeerProof(primary)
	}
	return ""
}

// permit reports why req's caller may not call its method, nil if it may.
func (n *Node) permit(req *transport.Request) error {
	need := proto.MethodRole(req.Method)
	c, _ := req.Identity.(auth.Caller)
	if c.Role.Allows(need) {
		return nil
	}
	n.refusals.Warn("request refused", "method", req.Method, "peer", req.Peer.Name, "token", c.Token, "role", c.Role.String(), "needs", need.String())
	return fmt.Errorf("%w: %s (role %s) may not call %s: it needs %s", ErrForbidden, c.Who(), c.Role, req.Method, need)
}

// requireToken wraps an HTTP handler so that, with tokens on, it needs an
// "Authorization: Bearer" token of at least role read.
func (n *Node) requireToken(h http.Handler) http.Handler {
	return n.tokens.RequireHTTP(h, func(r *http.Request, err error) {
		n.refusals.Warn("http request refused", "path", r.URL.Path, "remote", r.RemoteAddr, "error", err)
	})
}

// ReloadTLS reads the TLS certificates, key and CAs again (the agent does
// on SIGHUP): new connections get them, open ones carry on. On an error
// the node keeps what it had. Without TLS it does nothing.
func (n *Node) ReloadTLS() error {
	if n.tls == nil {
		return nil
	}
	if err := n.tls.Reload(); err != nil {
		return fmt.Errorf("node: reload tls: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.cluster.SetTrust(ctx, n.trust()); err != nil {
		n.logger.Warn("could not announce the reloaded certificate authorities yet", "error", err)
	}
	leaf := n.tls.Leaf()
	n.logger.Info("tls certificates reloaded", "serial", leaf.SerialNumber.String(), "not_after", leaf.NotAfter)
	return nil
}
