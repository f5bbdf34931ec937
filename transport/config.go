package transport

import (
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

	// Logger receives connection errors. Nil discards them.
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
