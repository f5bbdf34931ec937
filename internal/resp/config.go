package resp

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/internal/auth"
)

// Defaults of a Config: a zero field means its default.
const (
	// DefaultMaxConns bounds the connections held at once.
	DefaultMaxConns = 10000
	// DefaultIdleTimeout is how long a connection may stay silent between
	// commands.
	DefaultIdleTimeout = 10 * time.Minute
	// DefaultCommandTimeout bounds the reading of one command, from its
	// first byte to its last, and the writing of a pipeline's replies.
	DefaultCommandTimeout = 30 * time.Second
	// DefaultHandshakeTimeout bounds a TLS handshake.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultMaxBufferedBytes bounds the bytes of incomplete commands held
	// by all connections together, beyond each one's own 8 KiB.
	DefaultMaxBufferedBytes = 32 << 20
)

// ErrInvalidConfig is returned by Config.Validate and Serve for a
// configuration that cannot work.
var ErrInvalidConfig = errors.New("resp: invalid config")

// Config configures a Server. The zero value serves plain TCP, without
// tokens, with every limit at its default.
type Config struct {
	// Separator splits a RESP key into the store's name (before its first
	// occurrence) and the key in that store: "pageviews:/home" is the key
	// "/home" of the store "pageviews". Empty: ":".
	Separator string
	// Version is the hoard version INFO reports.
	Version string
	// Logger gets the server's logs. Nil: none. Lines about misbehaving
	// clients (failed handshakes and AUTHs, malformed requests, timeouts,
	// connections over MaxConns) are rate limited: at most one a second of
	// each kind, the next one saying how many were suppressed.
	Logger hclog.Logger

	// TLS, when set, makes every connection TLS: the handshake must end
	// within HandshakeTimeout. Client certificates are checked as TLS says
	// (ClientAuth, ClientCAs); certificates can be swapped while serving
	// through GetCertificate or GetConfigForClient. Nil: plain TCP.
	TLS *tls.Config
	// HandshakeTimeout bounds a TLS handshake; a client that has not
	// finished it by then is hung up on. Zero: DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration

	// Tokens, when any are declared, must be presented with AUTH (or
	// HELLO's AUTH option) before any other command; the token's role then
	// bounds what the connection may run. Nil or none: no AUTH needed, every
	// connection may run everything.
	Tokens *auth.Tokens

	// MaxConns bounds the connections held at once (counting those in their
	// TLS handshake); one more is told so and closed at once. It trades the
	// memory and descriptors a flood of connections can take against how
	// many clients may be connected. Zero: DefaultMaxConns.
	MaxConns int
	// IdleTimeout closes a connection that has sent nothing for that long
	// between commands (up to an eighth longer: the deadline is not reset
	// at every read). Zero: DefaultIdleTimeout.
	IdleTimeout time.Duration
	// CommandTimeout closes a connection that has not sent the whole of a
	// command this long after its first byte arrived, or that has not read
	// a pipeline's replies within it (up to an eighth longer, as for
	// IdleTimeout): a slow or stalled client holds its buffer at most that
	// long. Zero: DefaultCommandTimeout.
	CommandTimeout time.Duration
	// MaxBufferedBytes bounds the bytes that all connections together hold
	// for commands they are reading, beyond the first 8 KiB of each: a
	// connection whose command needs more waits for room,
	// within CommandTimeout (except the one that began first, which may
	// overdraw by one command so that they do not all wait on each other).
	// It bounds what many connections sending large commands slowly can
	// take from the heap, at the price of large commands waiting for each
	// other. The largest command a connection
	// may send is the lesser of op.MaxInsertBytes plus 1 MiB and this plus
	// 8 KiB. Zero: DefaultMaxBufferedBytes.
	MaxBufferedBytes int
}

// Validate reports the first problem with c, wrapping ErrInvalidConfig:
// negative limits and timeouts.
func (c *Config) Validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"handshake timeout", c.HandshakeTimeout},
		{"idle timeout", c.IdleTimeout},
		{"command timeout", c.CommandTimeout},
	} {
		if d.v < 0 {
			return fmt.Errorf("%w: %s %s is negative", ErrInvalidConfig, d.name, d.v)
		}
	}
	if c.MaxConns < 0 {
		return fmt.Errorf("%w: max conns %d is negative", ErrInvalidConfig, c.MaxConns)
	}
	if c.MaxBufferedBytes < 0 {
		return fmt.Errorf("%w: max buffered bytes %d is negative", ErrInvalidConfig, c.MaxBufferedBytes)
	}
	return nil
}

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	c.Separator = cmp.Or(c.Separator, ":")
	c.HandshakeTimeout = cmp.Or(c.HandshakeTimeout, DefaultHandshakeTimeout)
	c.MaxConns = cmp.Or(c.MaxConns, DefaultMaxConns)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, DefaultIdleTimeout)
	c.CommandTimeout = cmp.Or(c.CommandTimeout, DefaultCommandTimeout)
	c.MaxBufferedBytes = cmp.Or(c.MaxBufferedBytes, DefaultMaxBufferedBytes)
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	return c
}
