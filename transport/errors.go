package transport

import (
	"errors"
	"fmt"
)

// ErrHandshake is returned by Dial when the other end refuses the connection
// (another protocol version or cluster) or does not answer like a hoard node.
var ErrHandshake = errors.New("transport: handshake failed")

// ErrUnauthorized is returned by Dial, wrapped with the server's reason,
// when the server's Authorize refused the hello's credentials.
var ErrUnauthorized = errors.New("transport: unauthorized")

// ErrNotSent wraps the error of a call whose request was never written to
// the connection: the other end cannot have acted on it.
var ErrNotSent = errors.New("transport: request not sent")

// Error is an error returned by the remote handler. Code is a short machine
// readable string that callers map back to their own sentinel errors;
// Message is the remote error's text.
type Error struct {
	Code    string
	Message string
}

// Error implements error.
func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Message
}

// NewError wraps err with a code so that a handler's reply carries it. A nil
// err gives nil; an empty code means CodeInternal.
func NewError(code string, err error) error {
	if err == nil {
		return nil
	}
	return &codedError{code: code, err: err}
}

// CodeInternal is the code of a handler error that carries no code of its own.
const CodeInternal = "internal"

type codedError struct {
	code string
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// errorCode returns the code and message a reply carries for err. The code is
// never empty: an empty code on the wire means success.
func errorCode(err error) (code, msg string) {
	var ce *codedError
	var re *Error
	switch {
	case errors.As(err, &ce):
		code = ce.code
	case errors.As(err, &re):
		code = re.Code
	}
	if code == "" {
		code = CodeInternal
	}
	return code, err.Error()
}

// Hello is the handshake each end sends first. Token and Proof are the
// dialler's credentials (Config.Token and Config.Proof); a server sends
// neither, and Request.Peer has them cleared. Peers that predate them
// ignore them.
type Hello struct {
	Protocol int    `msgpack:"protocol"`
	Cluster  string `msgpack:"cluster"`
	Name     string `msgpack:"name"`
	Token    string `msgpack:"token,omitempty"`
	Proof    string `msgpack:"proof,omitempty"`
}

// String describes h without its credentials, so that logging a Hello does
// not leak them.
func (h Hello) String() string {
	s := fmt.Sprintf("{Protocol:%d Cluster:%q Name:%q", h.Protocol, h.Cluster, h.Name)
	if h.Token != "" {
		s += " Token:<redacted>"
	}
	if h.Proof != "" {
		s += " Proof:<redacted>"
	}
	return s + "}"
}

// withoutSecrets returns h with its credentials cleared.
func (h Hello) withoutSecrets() Hello {
	h.Token, h.Proof = "", ""
	return h
}

// check reports why a server with local identity `local` refuses remote.
func (local Hello) check(remote Hello) error {
	if remote.Protocol != ProtocolVersion {
		return fmt.Errorf("%w: protocol version %d, this node speaks %d", ErrHandshake, remote.Protocol, ProtocolVersion)
	}
	if remote.Cluster != "" && remote.Cluster != local.Cluster {
		return fmt.Errorf("%w: cluster %q, this node is in cluster %q", ErrHandshake, remote.Cluster, local.Cluster)
	}
	return nil
}
