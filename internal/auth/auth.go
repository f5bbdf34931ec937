// Package auth holds hoard's tokens and roles: who may read, write or
// administer a node, and how a peer proves it is one.
//
// A token is a secret with a role. Roles are ordered: admin may do what
// write may, write what read may. Peers do not use tokens: a peer proves
// itself with a secret derived from the cluster's gossip key (PeerProof),
// which no client knows. Secrets are compared in constant time.
package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
)

// Role is what a token allows. The zero Role allows nothing.
type Role int

// The roles, in increasing power. Peer is held by cluster members only and
// allows everything, including the peer-only methods.
const (
	RoleNone Role = iota
	RoleRead
	RoleWrite
	RoleAdmin
	RolePeer
)

// Roles lists the role names a token may be given.
var Roles = []string{"read", "write", "admin"}

// String returns the role's name.
func (r Role) String() string {
	switch r {
	case RoleRead:
		return "read"
	case RoleWrite:
		return "write"
	case RoleAdmin:
		return "admin"
	case RolePeer:
		return "peer"
	}
	return "none"
}

// Allows reports whether r may do what needs need.
func (r Role) Allows(need Role) bool { return r >= need }

// ParseRole parses a token's role: "read", "write" or "admin".
func ParseRole(s string) (Role, error) {
	switch s {
	case "read":
		return RoleRead, nil
	case "write":
		return RoleWrite, nil
	case "admin":
		return RoleAdmin, nil
	}
	return RoleNone, fmt.Errorf("role %q: must be read, write or admin", s)
}

// MinSecretLen is the shortest secret a token may have.
const MinSecretLen = 16

// Token is one declared token.
type Token struct {
	Name   string // for logs: which token was used
	Secret string
	Role   Role
}

// String names the token and its role, never its secret, so that a
// token printed by mistake (in a %v of a config) gives nothing away.
func (t Token) String() string { return fmt.Sprintf("token %q (role %s)", t.Name, t.Role) }

// GoString is String, for %#v.
func (t Token) GoString() string { return t.String() }

// ErrNoToken is returned by Tokens.Check for an empty secret when tokens
// are required; ErrBadToken for a secret that matches no token.
var (
	ErrNoToken  = errors.New("a token is required (--token or HOARD_TOKEN)")
	ErrBadToken = errors.New("the token matches none of this node's tokens")
)

// Tokens is a node's set of tokens. The zero value (no tokens) means
// tokens are off: every caller is admin.
type Tokens struct {
	list []Token
}

// NewTokens checks the tokens (names unique and non-empty, secrets at least
// MinSecretLen bytes and distinct, roles set) and returns the set.
func NewTokens(list []Token) (*Tokens, error) {
	names := map[string]bool{}
	secrets := map[string]string{}
	for _, t := range list {
		switch {
		case t.Name == "":
			return nil, errors.New("token: a token needs a name")
		case names[t.Name]:
			return nil, fmt.Errorf("token %q: declared twice", t.Name)
		case len(t.Secret) < MinSecretLen:
			return nil, fmt.Errorf("token %q: the secret has %d bytes, at least %d are needed (hoard keygen makes one)", t.Name, len(t.Secret), MinSecretLen)
		case t.Role < RoleRead || t.Role > RoleAdmin:
			return nil, fmt.Errorf("token %q: no role (read, write or admin)", t.Name)
		}
		if other, ok := secrets[t.Secret]; ok {
			return nil, fmt.Errorf("token %q: same secret as token %q", t.Name, other)
		}
		names[t.Name] = true
		secrets[t.Secret] = t.Name
	}
	return &Tokens{list: append([]Token(nil), list...)}, nil
}

// Enabled reports whether any token is declared.
func (ts *Tokens) Enabled() bool { return ts != nil && len(ts.list) > 0 }

// Check returns the token whose secret is secret. With tokens off it
// returns an admin token named "" for any secret. Every declared secret is
// compared, in constant time, whatever matches.
func (ts *Tokens) Check(secret string) (Token, error) {
	if !ts.Enabled() {
		return Token{Role: RoleAdmin}, nil
	}
	if secret == "" {
		return Token{}, ErrNoToken
	}
	found := -1
	for i, t := range ts.list {
		if subtle.ConstantTimeCompare([]byte(t.Secret), []byte(secret)) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Token{}, ErrBadToken
	}
	return ts.list[found], nil
}

// PeerProof derives the secret a peer presents from one gossip key: an
// HMAC-SHA256 of a fixed label under the key, base64. A client cannot
// compute it without the key.
func PeerProof(gossipKey []byte) string {
	m := hmac.New(sha256.New, gossipKey)
	m.Write([]byte("hoard peer proof v1"))
	return base64.RawStdEncoding.EncodeToString(m.Sum(nil))
}

// CheckPeerProof reports whether proof was derived from one of keys, in
// constant time over all of them.
func CheckPeerProof(proof string, keys [][]byte) bool {
	if proof == "" {
		return false
	}
	ok := 0
	for _, k := range keys {
		ok |= subtle.ConstantTimeCompare([]byte(PeerProof(k)), []byte(proof))
	}
	return ok == 1
}
