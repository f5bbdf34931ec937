package ring

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Errors returned by [Config.Validate] and [New]. Match them with errors.Is.
var (
	// ErrInvalidConfig reports a Config field out of range. The wrapping
	// error names the field and its value.
	ErrInvalidConfig = errors.New("ring: invalid config")
	// ErrNoMembers reports an empty member list.
	ErrNoMembers = errors.New("ring: no members")
	// ErrTooFewPartitions reports more members than partitions.
	ErrTooFewPartitions = errors.New("ring: fewer partitions than members")
	// ErrInvalidMember reports an empty or duplicate member name.
	ErrInvalidMember = errors.New("ring: invalid member")
	// ErrPlacement reports a failure inside the consistent hashing library
	// that validation did not foresee (a recovered panic). It is a bug.
	ErrPlacement = errors.New("ring: placement failed")
)

// Limits on Config fields. They keep a snapshot build bounded in time and
// memory whatever the input; real clusters stay far below them.
const (
	// MaxPartitions is the largest accepted Config.Partitions.
	MaxPartitions = 1 << 20
	// MaxVirtualNodes is the largest accepted Config.VirtualNodes.
	MaxVirtualNodes = 1 << 12
)

// scheme names the placement algorithm: the key hash (xxhash64 of
// store+"\x00"+key, modulo Partitions) and consistent v1's bounded-load
// distribution with "index:name" virtual node keys. Bump it whenever a change
// here or in the consistent dependency would move partitions, so that nodes
// running different code see different fingerprints.
const scheme = "ring1"

// Config holds the placement parameters. Every node of a cluster must use the
// same Partitions, Load and VirtualNodes (see [Config.Fingerprint]), or nodes
// disagree on owners. Start from [DefaultConfig]: zero is invalid for
// Partitions, Load and VirtualNodes.
type Config struct {
	// Partitions is the number of partitions keys are hashed into, and the
	// unit of ownership. More partitions spread load more evenly at the cost
	// of a larger snapshot and slower builds. Must be in [1, MaxPartitions]
	// and at least the number of members. Default 1021 (a prime).
	Partitions int

	// Load is the bounded-load factor: no member owns more than
	// ceil(Partitions/members*Load) partitions. Lower is more even but moves
	// more partitions between unchanged members on a membership change.
	// Must be a finite number >= 1. Default 1.25.
	Load float64

	// VirtualNodes is the number of points each member has on the hash ring
	// (consistent's ReplicationFactor). More points spread load more evenly
	// at the cost of slower builds. Must be in [1, MaxVirtualNodes].
	// Default 20.
	VirtualNodes int

	// Backups is the number of ordered backup members precomputed per
	// partition, for replication. A snapshot holds min(Backups, members-1)
	// of them. It does not change ownership. Must be >= 0; 0 means none.
	// Default 2.
	Backups int
}

// DefaultConfig returns the default placement parameters: 1021 partitions,
// load factor 1.25, 20 virtual nodes per member and 2 backups.
func DefaultConfig() Config {
	return Config{
		Partitions:   1021,
		Load:         1.25,
		VirtualNodes: 20,
		Backups:      2,
	}
}

// Validate reports the first field out of range as an error wrapping
// [ErrInvalidConfig] that names the field and its value.
func (c Config) Validate() error {
	switch {
	case c.Partitions < 1 || c.Partitions > MaxPartitions:
		return fmt.Errorf("%w: Partitions = %d, must be in [1, %d]", ErrInvalidConfig, c.Partitions, MaxPartitions)
	case math.IsNaN(c.Load) || math.IsInf(c.Load, 0) || c.Load < 1:
		return fmt.Errorf("%w: Load = %v, must be a finite number >= 1", ErrInvalidConfig, c.Load)
	case c.VirtualNodes < 1 || c.VirtualNodes > MaxVirtualNodes:
		return fmt.Errorf("%w: VirtualNodes = %d, must be in [1, %d]", ErrInvalidConfig, c.VirtualNodes, MaxVirtualNodes)
	case c.Backups < 0:
		return fmt.Errorf("%w: Backups = %d, must be >= 0", ErrInvalidConfig, c.Backups)
	}
	return nil
}

// Fingerprint returns a readable summary of everything that must be equal on
// every node of a cluster for them to agree on placement, such as
// "ring1/xxhash64/p1021/l1.25/v20": the algorithm version, the hash,
// Partitions, Load and VirtualNodes. Backups is left out: it does not change
// ownership. Compare fingerprints when nodes meet.
func (c Config) Fingerprint() string {
	return scheme + "/xxhash64/p" + strconv.Itoa(c.Partitions) +
		"/l" + strconv.FormatFloat(c.Load, 'g', -1, 64) +
		"/v" + strconv.Itoa(c.VirtualNodes)
}
