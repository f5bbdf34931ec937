package auth

import (
	"fmt"
	"net/http"
	"strings"
)

// Caller is who sent a request, as its connection's hello established it.
type Caller struct {
	Token string // the token's name; "" for a peer or with tokens off
	Role  Role
}

// Gate decides who a new connection is, from the token and the peer proof
// its hello carries.
type Gate struct {
	// Tokens are the node's tokens; none: tokens are off.
	Tokens *Tokens
	// Keys returns the gossip keyring's keys, nil with encryption off.
	Keys func() [][]byte
}

// Admit returns the caller of a hello from name carrying token and proof:
// a peer, when proof was derived from a key of the gossip keyring;
// otherwise the holder of token. With neither tokens nor gossip encryption
// on, everyone is trusted as a peer (hoard's behaviour before it had
// security); with encryption on and tokens off, a client may do anything
// but the peer-only methods. Errors say why, never with a secret.
func (g Gate) Admit(name, token, proof string) (Caller, error) {
	keys := g.Keys()
	if proof != "" {
		if keys != nil && CheckPeerProof(proof, keys) {
			return Caller{Role: RolePeer}, nil
		}
		return Caller{}, fmt.Errorf("%q does not prove it is a peer: its gossip key is not in this node's keyring", name)
	}
	if !g.Tokens.Enabled() {
		if keys == nil {
			return Caller{Role: RolePeer}, nil
		}
		return Caller{Role: RoleAdmin}, nil
	}
	tok, err := g.Tokens.Check(token)
	if err != nil {
		return Caller{}, err
	}
	return Caller{Token: tok.Name, Role: tok.Role}, nil
}

// Who names the caller in a refusal: its token, or "this peer".
func (c Caller) Who() string {
	if c.Token != "" {
		return fmt.Sprintf("token %q", c.Token)
	}
	return "this peer"
}

// RequireHTTP wraps h so that, with tokens on, a request needs an
// "Authorization: Bearer" token of at least role read; refused is told of
// each request turned away (401, with WWW-Authenticate). With tokens off
// it returns h.
func (ts *Tokens) RequireHTTP(h http.Handler, refused func(r *http.Request, err error)) http.Handler {
	if !ts.Enabled() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		tok, err := ts.Check(strings.TrimSpace(secret))
		if err == nil && !tok.Role.Allows(RoleRead) {
			err = ErrBadToken // no token below read exists; kept for a future role
		}
		if err != nil {
			refused(r, err)
			w.Header().Set("WWW-Authenticate", `Bearer realm="hoard"`)
			http.Error(w, "unauthorized: "+err.Error(), http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
