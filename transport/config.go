package transport

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hashicorp/go-hclog"
)

// ProtocolVersion is the version of the frame protocol. Both ends of a
// connection must speak the same one; the handshake refuses any other.
const ProtocolVersion = 1

// DefaultMaxFrameSize bounds one frame unless Config.MaxFrameSize says
// otherwise.
const DefaultMaxFrameSize = 16 << 20

// Defaults of the Config fields that bound what a connection may hold.
const (
	DefaultMaxInFlight  = 16 << 20 // one frame of the default largest size: the Go heap stays within 64 MiB of idle under attack (garbage included)
	DefaultFrameTimeout = 30 * time.Second
	DefaultIdleTimeout  = 10 * time.Minute
	DefaultMaxConns     = 10000
)

// ErrInvalidConfig is returned by Validate, and so by Dial, Listen and
// NewPool, for a configuration that cannot work.
var ErrInvalidConfig = errors.New("transport: invalid config")

// Config configures both ends of a connection.
type Config struct {
	// Cluster is the cluster name sent and checked in the handshake. A server
	// refuses a peer that names another cluster. A client may leave it empty
	// to talk to a node of any cluster (the CLI does).
	Cluster string

	// Name is the local node's name, sent in the handshake so the other end
	// can log who it talks to. Empty for clients.
	Name string

	// MaxFrameSize bounds one frame, in bytes, in both directions. A larger
	// incoming frame closes its connection; a larger outgoing one fails its
	// call with ErrFrameTooLarge. Zero means DefaultMaxFrameSize; at most
	// 4 GiB - 1 (the length prefix is 32 bits).
	MaxFrameSize int

	// MaxBuffered is how many bytes may wait to be written on one connection
	// before senders block: it trades memory for burst absorption. Zero
	// means 8 MiB.
	MaxBuffered int

	// DialTimeout bounds connecting plus the handshake when the caller's
	// context has no earlier deadline. A server gives a new connection as
	// long to send its hello. Zero means 5s.
	DialTimeout time.Duration

	// WriteTimeout bounds one write to the socket; a peer that stops reading
	// for longer has its connection closed. Zero means 10s.
	WriteTimeout time.Duration

	// MaxInFlight bounds, in bytes, the frames above 64 KiB that a server
	// is reading at once, over all its connections: a frame reserves its
	// declared length before its payload is read (its memory is allocated
	// as the bytes arrive) and gives it back once handled. A frame that
	// does not fit waits, its connection unread so that TCP pushes back on
	// the sender, until others finish or FrameTimeout passes; a frame
	// larger than MaxInFlight proceeds when nothing else is in flight.
	// Smaller frames are bounded per connection instead. It trades the
	// throughput of large frames for memory. Zero means
	// DefaultMaxInFlight (16 MiB).
	MaxInFlight int

	// FrameTimeout bounds the time from a frame's first byte to its last,
	// including any wait for MaxInFlight, on both ends; a frame that takes
	// longer closes its connection. It trades tolerance of slow links for
	// how long a slow sender may hold memory. Zero means
	// DefaultFrameTimeout (30s).
	FrameTimeout time.Duration

	// IdleTimeout is how long a server keeps a handshaken connection on
	// which nothing arrives and no request is being handled; it then closes
	// it. A Pool does not hand out a connection idle for more than half of
	// it (it redials instead), so that it does not race a server with the
	// same setting closing it. Zero means DefaultIdleTimeout (10 minutes);
	// it cannot be disabled, but a very long one has the same effect.
	IdleTimeout time.Duration

	// MaxConns bounds a server's open connections, handshaken or not. One
	// accepted over the limit is closed at once. Zero means
	// DefaultMaxConns (10000).
	MaxConns int

	// ServerTLS, when not nil, makes a server speak TLS: every accepted
	// connection completes a TLS handshake (within DialTimeout) before the
	// hello. Set ClientAuth to tls.RequireAndVerifyClientCert for mutual
	// TLS. Nil: plain TCP.
	ServerTLS *tls.Config

	// ClientTLS, when not nil, makes Dial speak TLS. An empty ServerName
	// means the dialled host. Nil: plain TCP.
	ClientTLS *tls.Config

	// ClientTLSFor, when not nil, makes Dial speak TLS with the config it
	// returns for the dialled host; it wins over ClientTLS. A node sets it
	// to verify peers it dials by IP address against their certificates'
	// IP SANs with reloadable CAs (tlsconf.Reloader.ClientConfigFor).
	ClientTLSFor func(host string) *tls.Config

	// Token is the credential Dial sends in its hello (clients). It is never
	// logged. Empty: none.
	Token string

	// Proof, when not nil, is called at each Dial for the proof sent in the
	// hello (peers derive it from the gossip key, which may change at
	// runtime). It is never logged. Nil: none.
	Proof func() string

	// Authorize, when not nil, is called by a server for each connection
	// whose hello passed the protocol and cluster checks, with the TLS
	// state when ServerTLS is set (nil otherwise). An error refuses the
	// connection: the dialler's error wraps ErrUnauthorized and carries
	// the error's text, which therefore must not contain secrets. The
	// identity it returns is Request.Identity for every request on the
	// connection. A panic is recovered as a refusal. Nil accepts everyone,
	// with a nil identity.
	Authorize func(remote Hello, tlsState *tls.ConnectionState) (identity any, err error)

	// Logger receives connection errors. Lines about malformed input,
	// refused connections and timeouts are rate-limited: at most one per
	// kind per second, with the number suppressed since. Nil discards them.
	Logger hclog.Logger
}

// DefaultConfig returns a Config with every field at its default.
func DefaultConfig() *Config {
	c := &Config{}
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = DefaultMaxFrameSize
	}
	if c.MaxBuffered == 0 {
		c.MaxBuffered = 8 << 20
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.FrameTimeout == 0 {
		c.FrameTimeout = DefaultFrameTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
}

// Validate reports the first problem with c, wrapping ErrInvalidConfig.
// Zero values are valid: they mean the defaults.
func (c *Config) Validate() error {
	switch {
	case c.MaxFrameSize < 0:
		return fmt.Errorf("%w: MaxFrameSize %d is negative", ErrInvalidConfig, c.MaxFrameSize)
	case c.MaxFrameSize > 0 && c.MaxFrameSize < 1024:
		return fmt.Errorf("%w: MaxFrameSize %d is below 1024 bytes", ErrInvalidConfig, c.MaxFrameSize)
	case c.MaxFrameSize > math.MaxUint32:
		// The length prefix is 32 bits.
		return fmt.Errorf("%w: MaxFrameSize %d is above %d bytes", ErrInvalidConfig, c.MaxFrameSize, uint32(math.MaxUint32))
	case c.MaxBuffered < 0:
		return fmt.Errorf("%w: MaxBuffered %d is negative", ErrInvalidConfig, c.MaxBuffered)
	case c.DialTimeout < 0:
		return fmt.Errorf("%w: DialTimeout %s is negative", ErrInvalidConfig, c.DialTimeout)
	case c.WriteTimeout < 0:
		return fmt.Errorf("%w: WriteTimeout %s is negative", ErrInvalidConfig, c.WriteTimeout)
	case c.MaxInFlight < 0:
		return fmt.Errorf("%w: MaxInFlight %d is negative", ErrInvalidConfig, c.MaxInFlight)
	case c.FrameTimeout < 0:
		return fmt.Errorf("%w: FrameTimeout %s is negative", ErrInvalidConfig, c.FrameTimeout)
	case c.IdleTimeout < 0:
		return fmt.Errorf("%w: IdleTimeout %s is negative (it cannot be disabled; use a long one)", ErrInvalidConfig, c.IdleTimeout)
	case c.MaxConns < 0:
		return fmt.Errorf("%w: MaxConns %d is negative", ErrInvalidConfig, c.MaxConns)
	case c.ServerTLS != nil && len(c.ServerTLS.Certificates) == 0 && c.ServerTLS.GetCertificate == nil && c.ServerTLS.GetConfigForClient == nil:
		return fmt.Errorf("%w: ServerTLS has no certificate", ErrInvalidConfig)
	}
	return nil
}

// prepare validates a copy of cfg (nil means defaults) and fills defaults.
func prepare(cfg *Config) (*Config, error) {
	c := Config{}
	if cfg != nil {
		c = *cfg
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.setDefaults()
	return &c, nil
}
