package ring

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// Member is a node of the cluster as the ring sees it.
type Member struct {
	// Name is the unique node name. It is the only field that is hashed:
	// placement depends on names alone.
	Name string
	// Addr is the member's RPC address, carried for callers, never hashed.
	Addr string
}

// ringMember is a member name as a consistent.Member.
type ringMember string

func (m ringMember) String() string { return string(m) }

// sortedMembers returns a copy of members sorted by name, or an error
// wrapping ErrNoMembers or ErrInvalidMember.
func sortedMembers(members []Member) ([]Member, error) {
	if len(members) == 0 {
		return nil, ErrNoMembers
	}
	sorted := slices.Clone(members)
	slices.SortFunc(sorted, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	for i, m := range sorted {
		if m.Name == "" {
			return nil, fmt.Errorf("%w: empty name (addr %q)", ErrInvalidMember, m.Addr)
		}
		if i > 0 && sorted[i-1].Name == m.Name {
			return nil, fmt.Errorf("%w: duplicate name %q", ErrInvalidMember, m.Name)
		}
	}
	return sorted, nil
}

// checksum hashes a sorted member list, each name and address prefixed by
// its length so that no two lists share an encoding.
func checksum(sorted []Member) uint64 {
	var d xxhash.Digest
	d.Reset()
	var buf [binary.MaxVarintLen64]byte
	for _, m := range sorted {
		for _, s := range [2]string{m.Name, m.Addr} {
			d.Write(binary.AppendUvarint(buf[:0], uint64(len(s))))
			d.WriteString(s)
		}
	}
	return d.Sum64()
}
