package cluster

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"

	"github.com/hoard-dev/hoard/ring"
)

// ErrInvalidConfig is returned by New for a configuration that cannot work.
var ErrInvalidConfig = errors.New("cluster: invalid config")

// DefaultCluster is the cluster name used when Config.Cluster is empty.
const DefaultCluster = "hoard"

// Config configures a node's membership.
type Config struct {
	// Name identifies the node in the cluster; it must be unique and stable
	// across restarts (a restarted node reclaims its name). Required.
	Name string

	// Cluster is the cluster's name. It labels every gossip packet, so nodes
	// of another cluster never merge with this one. Empty means "hoard".
	Cluster string

	// BindAddr is the host:port gossip listens on, TCP and UDP. Port 0 picks
	// a free port (tests).
	BindAddr string

	// AdvertiseAddr is the host:port peers use to reach BindAddr, when that
	// differs (NAT, containers). Empty means BindAddr.
	AdvertiseAddr string

	// RPCAddr and HTTPAddr are advertised in the node's metadata so peers and
	// clients can find its RPC and HTTP endpoints. RPCAddr is required.
	RPCAddr, HTTPAddr string

	// Version is the software version advertised in the metadata.
	Version string

	// Origin names the write-ahead log of this incarnation of the node
	// (journal.NextOrigin), advertised so that the backups holding its ops
	// can tell a restarted node from the one that sent them.
	Origin string

	// Stores is a digest of the stores the node declares. Every node should
	// declare the same ones: a member whose digest differs is logged, not
	// refused (a rolling change of the stores passes through that state).
	Stores string

	// Ring is the placement configuration. Its fingerprint is advertised and
	// a node whose fingerprint differs is refused: two rings that disagree
	// on placement would send a key to two owners.
	Ring ring.Config

	// Trust says which certificate authorities the node's RPC TLS uses
	// (see Trust): a node whose certificate no CA of this node signed, or
	// that trusts none that signed this node's, or that runs TLS while this
	// node does not (or the reverse), could not talk to it, and is refused
	// as a member with the reason. Zero: TLS off.
	Trust Trust

	// Join lists gossip addresses (host:port) of nodes to join at start and
	// to re-join periodically, which heals a cluster split by a partition.
	Join []string

	// RejoinInterval is how often the seeds in Join are contacted again once
	// joined. It trades a little gossip traffic for how quickly a healed
	// partition merges. Zero means 15s; negative disables re-joining.
	RejoinInterval time.Duration

	// Debounce is how long membership must be quiet before a new ring is
	// published, so one change that arrives as several events builds one
	// ring. It delays every ring change by that much. Zero means 100ms.
	Debounce time.Duration

	// EncryptKey turns on gossip encryption (AES-GCM) with this 16, 24 or
	// 32 byte key: gossip is encrypted and authenticated, and a node without
	// the key cannot join. When KeyringFile exists, the keys in it are used
	// instead: after a rotation (InstallKey, UseKey, RemoveKey) a restarted
	// node keeps the cluster's current keys whatever its configuration says.
	// Nil, with no keyring file: gossip in the clear.
	EncryptKey []byte

	// KeyringFile is where the gossip keyring is kept (the node uses
	// <data_dir>/keyring.json): read at start when it exists, written when
	// it does not and EncryptKey is set, and rewritten by every keyring
	// change before that change returns. Empty: the keyring lives in memory
	// only and a restarted node starts from EncryptKey again.
	KeyringFile string

	// Memberlist carries the gossip timings. Nil means
	// memberlist.DefaultLANConfig with DeadNodeReclaimTime set to 3s, so a
	// node restarted under the same name with a new address rejoins in
	// seconds. Name, addresses, Label, delegates and Logger are always set by
	// the cluster and overwritten, as are SecretKey, Keyring and
	// GossipVerifyIncoming/Outgoing (see EncryptKey).
	Memberlist *memberlist.Config

	// Logger receives membership events. Nil discards them.
	Logger hclog.Logger
}

// defaultDeadNodeReclaimTime lets a restarted node take its name back once
// its old incarnation has been declared dead this long.
const defaultDeadNodeReclaimTime = 3 * time.Second

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Validate reports the first problem with c, wrapping ErrInvalidConfig.
func (c *Config) Validate() error {
	if !nameRE.MatchString(c.Name) {
		return fmt.Errorf("%w: name %q must be 1-64 letters, digits, '_', '.' or '-'", ErrInvalidConfig, c.Name)
	}
	if c.Cluster != "" && !nameRE.MatchString(c.Cluster) {
		return fmt.Errorf("%w: cluster %q must be 1-64 letters, digits, '_', '.' or '-'", ErrInvalidConfig, c.Cluster)
	}
	if _, _, err := splitHostPort(c.BindAddr); err != nil {
		return fmt.Errorf("%w: bind address: %w", ErrInvalidConfig, err)
	}
	if c.AdvertiseAddr != "" {
		if _, _, err := splitHostPort(c.AdvertiseAddr); err != nil {
			return fmt.Errorf("%w: advertise address: %w", ErrInvalidConfig, err)
		}
	}
	if c.RPCAddr == "" {
		return fmt.Errorf("%w: RPC address is required", ErrInvalidConfig)
	}
	for _, j := range c.Join {
		if _, _, err := net.SplitHostPort(j); err != nil {
			return fmt.Errorf("%w: join address %q: %w", ErrInvalidConfig, j, err)
		}
	}
	if err := c.Ring.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if len(c.EncryptKey) > 0 {
		if err := validKey(c.EncryptKey); err != nil {
			return fmt.Errorf("%w: encrypt: %w", ErrInvalidConfig, err)
		}
	}
	if c.Debounce < 0 {
		return fmt.Errorf("%w: debounce %s is negative", ErrInvalidConfig, c.Debounce)
	}
	return nil
}

// splitHostPort parses "host:port" with a numeric port.
func splitHostPort(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q in %q is not a number from 0 to 65535", portStr, addr)
	}
	return host, port, nil
}

// StoresDigest summarizes a node's declared stores (names such as
// "counter:pv") for its metadata, so that nodes can tell whether they
// agree; the order of names does not matter.
func StoresDigest(names []string) string {
	sorted := slices.Sorted(slices.Values(names))
	return fmt.Sprintf("%016x", xxhash.Sum64String(strings.Join(sorted, ",")))
}
