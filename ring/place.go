package ring

import (
	"fmt"
	"slices"

	"github.com/buraksezer/consistent"
)

// place fills s.owners and s.backups from consistent, for s.members and
// s.cfg, which New has validated. A panic in consistent becomes an error
// wrapping ErrPlacement.
func (s *Snapshot) place() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: consistent panicked: %v", ErrPlacement, r)
		}
	}()
	c := newConsistent(s.cfg, s.members)
	index := make(map[string]int32, len(s.members))
	for i, m := range s.members {
		index[m.Name] = int32(i)
	}

	s.owners = make([]int32, s.cfg.Partitions)
	s.backups = make([]Member, 0, s.cfg.Partitions*s.nbackups)
	for p := range s.owners {
		owner := c.GetPartitionOwner(p)
		if owner == nil {
			return fmt.Errorf("%w: partition %d has no owner", ErrPlacement, p)
		}
		s.owners[p] = index[owner.String()]
		if s.nbackups == 0 {
			continue
		}
		closest, err := c.GetClosestNForPartition(p, s.nbackups+1)
		if err != nil {
			return fmt.Errorf("%w: backups of partition %d: %w", ErrPlacement, p, err)
		}
		start := len(s.backups)
		for _, b := range closest {
			m := s.members[index[b.String()]]
			if m.Name != owner.String() && !slices.Contains(s.backups[start:], m) {
				s.backups = append(s.backups, m)
			}
		}
		// Short only if two names share a 64-bit hash.
		if len(s.backups)-start != s.nbackups {
			return fmt.Errorf("%w: partition %d: %d distinct backups, want %d", ErrPlacement, p, len(s.backups)-start, s.nbackups)
		}
	}
	return nil
}

// newConsistent returns consistent's ring for cfg and members.
func newConsistent(cfg Config, members []Member) *consistent.Consistent {
	cms := make([]consistent.Member, len(members))
	for i, m := range members {
		cms[i] = ringMember(m.Name)
	}
	return consistent.New(cms, consistent.Config{
		Hasher:            hasher{},
		PartitionCount:    cfg.Partitions,
		ReplicationFactor: cfg.VirtualNodes,
		Load:              cfg.Load,
	})
}
