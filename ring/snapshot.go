package ring

import (
	"fmt"
	"slices"
	"strings"
)

// Snapshot is an immutable placement: which member owns each partition, and
// which members back it up. It is safe for concurrent use without locks;
// share it behind an atomic.Pointer and replace it on membership changes.
type Snapshot struct {
	cfg         Config
	fingerprint string
	version     uint64
	checksum    uint64
	members     []Member // sorted by name
	owners      []int32  // partition -> index into members
	nbackups    int      // backups per partition: min(cfg.Backups, len(members)-1)
	backups     []Member // partition p's backups are backups[p*nbackups:(p+1)*nbackups]
}

// New builds the snapshot numbered version placing cfg.Partitions partitions
// on members. The result does not depend on the order of members.
//
// It returns an error wrapping [ErrInvalidConfig] if cfg is invalid,
// [ErrNoMembers] if members is empty, [ErrInvalidMember] if a name is empty or
// repeated, [ErrTooFewPartitions] if there are more members than partitions,
// or [ErrPlacement] if the hashing library failed unexpectedly. It never
// panics. New does not keep members.
func New(cfg Config, version uint64, members []Member) (*Snapshot, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sorted, err := sortedMembers(members)
	if err != nil {
		return nil, err
	}
	if cfg.Partitions < len(sorted) {
		return nil, fmt.Errorf("%w: %d partitions, %d members", ErrTooFewPartitions, cfg.Partitions, len(sorted))
	}
	s := &Snapshot{
		cfg:         cfg,
		fingerprint: cfg.Fingerprint(),
		version:     version,
		checksum:    checksum(sorted),
		members:     sorted,
		nbackups:    min(cfg.Backups, len(sorted)-1),
	}
	if err := s.place(); err != nil {
		return nil, err
	}
	return s, nil
}

// Version returns the version given to [New].
func (s *Snapshot) Version() uint64 { return s.version }

// Config returns the configuration the snapshot was built with.
func (s *Snapshot) Config() Config { return s.cfg }

// Fingerprint returns [Config.Fingerprint] of the snapshot's configuration.
func (s *Snapshot) Fingerprint() string { return s.fingerprint }

// Checksum returns a hash of the sorted (name, addr) member list. Two nodes
// that see the same members get the same checksum, whatever the version.
func (s *Snapshot) Checksum() uint64 { return s.checksum }

// Partitions returns the number of partitions.
func (s *Snapshot) Partitions() int { return len(s.owners) }

// Members returns the members sorted by name. The slice is a copy.
func (s *Snapshot) Members() []Member { return slices.Clone(s.members) }

// Member returns the member called name and whether there is one.
func (s *Snapshot) Member(name string) (Member, bool) {
	i, ok := s.index(name)
	if !ok {
		return Member{}, false
	}
	return s.members[i], true
}

// index returns the position of name in s.members.
func (s *Snapshot) index(name string) (int, bool) {
	return slices.BinarySearchFunc(s.members, name, func(m Member, name string) int {
		return strings.Compare(m.Name, name)
	})
}

// Partition returns the partition of a key of a store: see [PartitionOf].
// It does not allocate.
func (s *Snapshot) Partition(store, key string) int {
	return PartitionOf(len(s.owners), store, key)
}

// Owner returns the owner of partition, or the zero Member if partition is
// out of range.
func (s *Snapshot) Owner(partition int) Member {
	if partition < 0 || partition >= len(s.owners) {
		return Member{}
	}
	return s.members[s.owners[partition]]
}

// Locate returns the partition of a key of a store and its owner. It takes no
// lock and does not allocate.
func (s *Snapshot) Locate(store, key string) (partition int, owner Member) {
	p := PartitionOf(len(s.owners), store, key)
	return p, s.members[s.owners[p]]
}

// Backups returns the ordered backups of partition: the members that follow
// its owner on the circle of member names (consistent's GetClosestN), which
// will hold its replicas. They are not necessarily the partition's next
// owners: bounded-load placement decides those. It never contains the owner and holds
// min(Config.Backups, members-1) members; it is nil if partition is out of
// range. The slice belongs to the snapshot: callers must not modify it.
func (s *Snapshot) Backups(partition int) []Member {
	if partition < 0 || partition >= len(s.owners) {
		return nil
	}
	lo, hi := partition*s.nbackups, (partition+1)*s.nbackups
	return s.backups[lo:hi:hi]
}

// Owns reports whether the member called name owns partition.
func (s *Snapshot) Owns(name string, partition int) bool {
	return partition >= 0 && partition < len(s.owners) && s.members[s.owners[partition]].Name == name
}

// PartitionsOf returns, in increasing order, the partitions owned by the
// member called name; none if there is no such member. The slice is the
// caller's.
func (s *Snapshot) PartitionsOf(name string) []int {
	i, ok := s.index(name)
	if !ok {
		return nil
	}
	var ps []int
	for p, o := range s.owners {
		if int(o) == i {
			ps = append(ps, p)
		}
	}
	return ps
}

// Load returns the number of partitions owned by each member, by name.
// Members that own none are present with 0. The map is the caller's.
func (s *Snapshot) Load() map[string]int {
	load := make(map[string]int, len(s.members))
	for _, m := range s.members {
		load[m.Name] = 0
	}
	for _, o := range s.owners {
		load[s.members[o].Name]++
	}
	return load
}
