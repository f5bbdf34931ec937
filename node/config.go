package node

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-sockaddr"
	"github.com/hashicorp/memberlist"

	"github.com/hoard-dev/hoard/cluster"
	"github.com/hoard-dev/hoard/internal/auth"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/internal/tlsconf"
	"github.com/hoard-dev/hoard/ring"
)

// Version is hoard's version, advertised to peers and printed by
// `hoard version`.
const Version = "0.1.0"

// Node defaults: DefaultConfig returns them; a zero field of a Config means
// its default.
const (
	// DefaultMaxValueBytes is the default bound on one value.
	DefaultMaxValueBytes = 1 << 20
	// DefaultLeaveTimeout is the default bound on a graceful leave.
	DefaultLeaveTimeout = 30 * time.Second
	// DefaultWALSync is how often the write-ahead log is fsynced by default.
	DefaultWALSync = 100 * time.Millisecond
	// DefaultMaxConns bounds the connections of each listener by default.
	DefaultMaxConns = 10000
	// DefaultIdleTimeout is how long a connection may stay silent by
	// default.
	DefaultIdleTimeout = 10 * time.Minute
	// WALSyncAlways, as Config.WALSync, fsyncs the write-ahead log before
	// each write is acknowledged (concurrent writes share one fsync).
	WALSyncAlways time.Duration = -1
)

// Token is a client credential with a role (Config.Tokens).
type Token = auth.Token

// Role is what a Token allows: RoleRead, RoleWrite or RoleAdmin.
type Role = auth.Role

// The roles a token may have, in increasing power.
const (
	RoleRead  = auth.RoleRead
	RoleWrite = auth.RoleWrite
	RoleAdmin = auth.RoleAdmin
)

// TLSConfig names the TLS files and checks of a node (Config.TLS).
type TLSConfig = tlsconf.Config

// ErrInvalidConfig is returned by Validate and Start for a configuration that
// cannot work.
var ErrInvalidConfig = errors.New("node: invalid config")

// Config configures a node.
type Config struct {
	// Name identifies the node; unique in the cluster and stable across
	// restarts. Required.
	Name string

	// Cluster is the cluster's name; nodes of other clusters are refused.
	// Empty means cluster.DefaultCluster ("hoard").
	Cluster string

	// BindAddr is the gossip host:port (TCP and UDP). Port 0 picks one.
	BindAddr string

	// AdvertiseAddr is the gossip host:port peers should use, when it differs
	// from BindAddr. Empty means BindAddr.
	AdvertiseAddr string

	// RPCAddr is the host:port of the msgpack RPC listener that clients and
	// peers use. Port 0 picks one; the bound address is advertised.
	RPCAddr string

	// HTTPAddr is the host:port serving /healthz and /readyz. Empty disables
	// it.
	HTTPAddr string

	// RESPAddr is the host:port of a RESP2 listener that Redis clients
	// write to (redis-cli, go-redis, redis-py...). Empty disables it.
	RESPAddr string

	// RESPSeparator splits a RESP key into its store and the key in that
	// store, at its first occurrence: "pageviews:/home". Empty: ":".
	RESPSeparator string

	// Join lists gossip addresses of nodes to join at start and to re-join
	// periodically (which heals partitions).
	Join []string

	// DataDir is where the node keeps its files (dead letters, dumps).
	DataDir string

	// Ring configures placement. It must be identical on every node: a node
	// with another fingerprint is refused. Zero value means
	// ring.DefaultConfig().
	Ring ring.Config

	// Gossip carries memberlist timings; nil means LAN defaults (see
	// cluster.Config.Memberlist). Tests shrink them.
	Gossip *memberlist.Config

	// RejoinInterval is how often seeds are re-joined; see
	// cluster.Config.RejoinInterval. Zero means 15s.
	RejoinInterval time.Duration

	// RingDebounce is how long membership must be quiet before the node
	// builds a new ring; see cluster.Config.Debounce. Zero means 100ms.
	// Tests raise it on one node to make its ring lag behind its peers'.
	RingDebounce time.Duration

	// MaxValueBytes bounds one value: a buffer insert's, a cache Set's or
	// load's. Zero means DefaultMaxValueBytes.
	MaxValueBytes int

	// Stores declares the node's stores. Every node of a cluster declares
	// the same ones.
	Stores []StoreConfig

	// LeaveTimeout bounds a graceful leave asked for over RPC (`hoard
	// leave`): what cannot be flushed in time goes to the dead-letter. Zero
	// means DefaultLeaveTimeout.
	LeaveTimeout time.Duration

	// WALSync is how the write-ahead log of the stores with Ack = AckWAL
	// reaches the disk: a write is acknowledged once written to the log
	// (the page cache: a crash of the process loses nothing) and the log is
	// fsynced every WALSync (a power loss loses at most that window), or,
	// with WALSyncAlways, fsynced before the write is acknowledged. Zero
	// means DefaultWALSync.
	WALSync time.Duration

	// EncryptKey turns on gossip encryption: a 16, 24 or 32 byte AES key
	// (`hoard keygen` makes one). Gossip is encrypted and authenticated, a
	// node without the key cannot join, and peers prove themselves to each
	// other on the RPC port with a secret derived from it. Once the keyring
	// has been changed (`hoard keyring`), the copy kept in DataDir wins over
	// this key. Nil: gossip in the clear.
	EncryptKey []byte

	// TLS turns on TLS (1.3) for the RPC, RESP and HTTP listeners and for
	// the connections to peers; mutual with TLS.VerifyIncoming. The
	// certificates are read again by ReloadTLS (the agent: on SIGHUP). Zero:
	// off.
	TLS TLSConfig

	// Tokens, when any are declared, are required of every client: in the
	// RPC hello, with RESP's AUTH and as HTTP "Authorization: Bearer". Each
	// has a role: read, write or admin. None: every client may do anything.
	Tokens []Token

	// MetricsOpen leaves the HTTP routes added with HTTPRoutes (/metrics)
	// open when tokens are on; by default they need a read token.
	// /healthz and /readyz are always open.
	MetricsOpen bool

	// MaxConns bounds the connections each listener (RPC, RESP, HTTP)
	// holds at once; one more is closed at once. Zero means
	// DefaultMaxConns.
	MaxConns int

	// IdleTimeout closes a connection that has sent nothing for that long.
	// Zero means DefaultIdleTimeout.
	IdleTimeout time.Duration

	// HTTPRoutes adds handlers to the node's HTTP endpoint, by pattern
	// (the agent serves Prometheus metrics at "GET /metrics" this way).
	HTTPRoutes map[string]http.Handler

	// Logger receives the node's logs. Nil discards them.
	Logger hclog.Logger
}

// DefaultConfig returns a Config with every default filled in, named
// "hoard" and with no stores. `hoard agent` starts from it: a setting left
// out of its file means the same as here (the agent names the node after
// the host and keeps its files in ./data/NAME instead).
func DefaultConfig() *Config {
	return &Config{
		Name:          "hoard",
		Cluster:       cluster.DefaultCluster,
		BindAddr:      "127.0.0.1:7946",
		RPCAddr:       "127.0.0.1:7373",
		HTTPAddr:      "127.0.0.1:8080",
		DataDir:       "./data",
		Ring:          ring.DefaultConfig(),
		MaxValueBytes: DefaultMaxValueBytes,
		LeaveTimeout:  DefaultLeaveTimeout,
		WALSync:       DefaultWALSync,
		MaxConns:      DefaultMaxConns,
		IdleTimeout:   DefaultIdleTimeout,
	}
}

// gossipHost is the host peers reach the node's gossip at, chosen as
// memberlist chooses it: the advertise address's host, else the bind
// address's when it is a specific IP, else the machine's private IP (a
// container's or pod's own). It is "" when none is known.
func (c *Config) gossipHost() string {
	addr := c.AdvertiseAddr
	if addr == "" {
		addr = c.BindAddr
	}
	if host, _, err := net.SplitHostPort(addr); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
			return host
		}
	}
	ip, err := sockaddr.GetPrivateIP()
	if err != nil {
		return ""
	}
	return ip
}

// Validate reports the first problem with c, wrapping ErrInvalidConfig.
func (c *Config) Validate() error {
	cc := c.clusterConfig()
	if err := cc.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	for _, a := range []struct{ name, addr string }{{"rpc", c.RPCAddr}, {"http", c.HTTPAddr}, {"resp", c.RESPAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil && (a.addr != "" || a.name == "rpc") {
			return fmt.Errorf("%w: %s address: %w", ErrInvalidConfig, a.name, err)
		}
	}
	if c.WALSync < 0 && c.WALSync != WALSyncAlways {
		return fmt.Errorf("%w: wal sync %s: want a positive interval, or WALSyncAlways", ErrInvalidConfig, c.WALSync)
	}
	if c.DataDir == "" {
		return fmt.Errorf("%w: data dir is required", ErrInvalidConfig)
	}
	if _, err := auth.NewTokens(c.Tokens); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if len(c.Tokens) > 0 && c.EncryptKey == nil {
		return fmt.Errorf("%w: tokens need gossip encryption (encrypt): peers prove themselves to each other with a secret derived from its key, which no client holds", ErrInvalidConfig)
	}
	if err := c.TLS.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if c.MaxConns < 0 || c.IdleTimeout < 0 {
		return fmt.Errorf("%w: max conns %d and idle timeout %s must not be negative", ErrInvalidConfig, c.MaxConns, c.IdleTimeout)
	}
	if c.MaxValueBytes < 0 || c.MaxValueBytes > op.MaxInsertBytes {
		return fmt.Errorf("%w: max value bytes %d must be between 1 and %d", ErrInvalidConfig, c.MaxValueBytes, op.MaxInsertBytes)
	}
	seen := map[string]bool{}
	backups := c.ringConfig().Backups
	for _, s := range c.Stores {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		if seen[s.Name] {
			return fmt.Errorf("%w: store %q declared twice", ErrInvalidConfig, s.Name)
		}
		if d := s.WithDefaults(); d.Ack == AckReplicated && d.Replicas > backups {
			return fmt.Errorf("%w: store %q: replicas %d is more than the ring's backups (%d)", ErrInvalidConfig, s.Name, d.Replicas, backups)
		}
		seen[s.Name] = true
	}
	return nil
}

// walSyncEvery is the write-ahead logs' fsync interval: 0 to fsync before
// each acknowledgement (WALSyncAlways).
func (c *Config) walSyncEvery() time.Duration {
	if c.WALSync == WALSyncAlways {
		return 0
	}
	return c.WALSync
}

// withDefaults sets c's zero fields to their defaults (DefaultConfig's).
func (c *Config) withDefaults() {
	d := DefaultConfig()
	c.Ring = cmp.Or(c.Ring, d.Ring)
	c.MaxValueBytes = cmp.Or(c.MaxValueBytes, d.MaxValueBytes)
	c.LeaveTimeout = cmp.Or(c.LeaveTimeout, d.LeaveTimeout)
	c.Cluster = cmp.Or(c.Cluster, d.Cluster)
	c.WALSync = cmp.Or(c.WALSync, d.WALSync)
	c.MaxConns = cmp.Or(c.MaxConns, d.MaxConns)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, d.IdleTimeout)
}

func (c *Config) ringConfig() ring.Config {
	r := c.Ring
	r = cmp.Or(r, ring.DefaultConfig())
	return r
}

// clusterConfig derives the membership configuration.
func (c *Config) clusterConfig() cluster.Config {
	return cluster.Config{
		Name:           c.Name,
		Cluster:        c.Cluster,
		BindAddr:       c.BindAddr,
		AdvertiseAddr:  c.AdvertiseAddr,
		RPCAddr:        c.RPCAddr,
		HTTPAddr:       c.HTTPAddr,
		Version:        Version,
		Stores:         cluster.StoresDigest(storeNames(c.Stores)),
		Ring:           c.ringConfig(),
		Join:           c.Join,
		RejoinInterval: c.RejoinInterval,
		Debounce:       c.RingDebounce,
		Memberlist:     c.Gossip,
		EncryptKey:     c.EncryptKey,
		KeyringFile:    filepath.Join(c.DataDir, "keyring.json"),
		Logger:         c.Logger,
	}
}

// storeNames names the declared stores by kind and name ("counter:pv").
func storeNames(stores []StoreConfig) []string {
	names := make([]string, len(stores))
	for i, s := range stores {
		names[i] = string(s.Kind) + ":" + s.Name
	}
	return names
}
