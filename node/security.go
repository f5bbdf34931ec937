package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strings"
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

// caller is who sent an RPC request, as the handshake established it.
type caller struct {
	token string // the token's name; "" for a peer or with tokens off
	role  auth.Role
}

// authorize decides who a new RPC connection is (transport.Config's
// Authorize): a peer, when it proves it holds a key of the gossip keyring;
// otherwise the holder of the token it sent. With neither tokens nor gossip
// encryption on, everyone is trusted as a peer (the node's behaviour before
// security existed); with encryption on and tokens off, a client may do
// anything but the peer-only methods.
func (n *Node) authorize(h transport.Hello, _ *tls.ConnectionState) (any, error) {
	if n.life.State() == lifecycle.Starting {
		// n.cluster, the keyring, is not there yet to tell peers apart.
		return nil, errors.New("the node is still starting; try again")
	}
	if h.Proof != "" {
		if keys := n.gossipKeys(); keys != nil && auth.CheckPeerProof(h.Proof, keys) {
			return caller{role: auth.RolePeer}, nil
		}
		return nil, fmt.Errorf("%q does not prove it is a peer: its gossip key is not in this node's keyring", h.Name)
	}
	if !n.tokens.Enabled() {
		if n.gossipKeys() == nil {
			return caller{role: auth.RolePeer}, nil
		}
		return caller{role: auth.RoleAdmin}, nil
	}
	tok, err := n.tokens.Check(h.Token)
	if err != nil {
		return nil, err
	}
	return caller{token: tok.Name, role: tok.Role}, nil
}

// gossipKeys returns the gossip keyring's keys, nil with encryption off.
// Only once the node serves.
func (n *Node) gossipKeys() [][]byte {
	keys, _ := n.cluster.Keys()
	return keys
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
	c, _ := req.Identity.(caller)
	if c.role.Allows(need) {
		return nil
	}
	who := "this peer"
	if c.token != "" {
		who = fmt.Sprintf("token %q", c.token)
	}
	err := fmt.Errorf("%w: %s (role %s) may not call %s: it needs %s", ErrForbidden, who, c.role, req.Method, need)
	n.refusals.Warn("request refused", "method", req.Method, "peer", req.Peer.Name, "token", c.token, "role", c.role.String(), "needs", need.String())
	return err
}

// requireToken wraps an HTTP handler so that, with tokens on, it needs an
// "Authorization: Bearer" token of at least role read.
func (n *Node) requireToken(h http.Handler) http.Handler {
	if !n.tokens.Enabled() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			secret = ""
		}
		tok, err := n.tokens.Check(strings.TrimSpace(secret))
		if err != nil {
			n.refusals.Warn("http request refused", "path", r.URL.Path, "remote", r.RemoteAddr, "error", err)
			w.Header().Set("WWW-Authenticate", `Bearer realm="hoard"`)
			http.Error(w, "unauthorized: "+err.Error(), http.StatusUnauthorized)
			return
		}
		if !tok.Role.Allows(auth.RoleRead) {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
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
