package ring_test

// A naive model of the placement, written from consistent's documented
// algorithm, and a reference consistent ring built independently of the
// package, for the property tests to compare against.

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/buraksezer/consistent"
	"github.com/cespare/xxhash/v2"
	"github.com/hoard-dev/hoard/ring"
)

// randomMembers returns n members with distinct random names.
func randomMembers(r *rand.Rand, n int) []ring.Member {
	seen := make(map[string]bool, n)
	ms := make([]ring.Member, 0, n)
	for len(ms) < n {
		name := randomName(r)
		if seen[name] {
			continue
		}
		seen[name] = true
		ms = append(ms, ring.Member{Name: name, Addr: fmt.Sprintf("10.%d.%d.%d:7373", r.IntN(256), r.IntN(256), r.IntN(256))})
	}
	return ms
}

// randomName returns a short random node name, sometimes with odd bytes.
func randomName(r *rand.Rand) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-.:\x00é"
	b := make([]byte, 1+r.IntN(12))
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// shuffled returns a shuffled copy of ms.
func shuffled(r *rand.Rand, ms []ring.Member) []ring.Member {
	c := slices.Clone(ms)
	r.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
	return c
}

// names returns the names of ms.
func names(ms []ring.Member) []string {
	ns := make([]string, len(ms))
	for i, m := range ms {
		ns[i] = m.Name
	}
	return ns
}

// naiveOwners places partitions as consistent documents it: each member has
// VirtualNodes points xxhash64("i:name") on a ring; partition p starts at the
// first point >= xxhash64(uint64 p, little endian) and walks clockwise to the
// first member holding fewer than ceil(partitions/members*load) partitions.
func naiveOwners(cfg ring.Config, names []string) []string {
	var points []uint64
	at := make(map[uint64]string)
	for _, name := range names {
		for i := range cfg.VirtualNodes {
			h := xxhash.Sum64String(fmt.Sprintf("%d:%s", i, name))
			points = append(points, h)
			at[h] = name
		}
	}
	slices.Sort(points)
	capacity := math.Ceil(float64(cfg.Partitions) / float64(len(names)) * cfg.Load)
	load := make(map[string]float64)
	owners := make([]string, cfg.Partitions)
	var b [8]byte
	for p := range owners {
		binary.LittleEndian.PutUint64(b[:], uint64(p))
		i, _ := slices.BinarySearch(points, xxhash.Sum64(b[:]))
		for {
			if i == len(points) {
				i = 0
			}
			if name := at[points[i]]; load[name]+1 <= capacity {
				owners[p] = name
				load[name]++
				break
			}
			i++
		}
	}
	return owners
}

// naiveBackups returns the k members that follow owner when members are
// ordered by xxhash64 of their name, wrapping around: consistent's
// GetClosestNForPartition without the owner.
func naiveBackups(names []string, owner string, k int) []string {
	byHash := slices.Clone(names)
	slices.SortFunc(byHash, func(a, b string) int {
		ha, hb := xxhash.Sum64String(a), xxhash.Sum64String(b)
		switch {
		case ha < hb:
			return -1
		case ha > hb:
			return 1
		}
		return 0
	})
	at := slices.Index(byHash, owner)
	var bs []string
	for i := 1; i <= k; i++ {
		bs = append(bs, byHash[(at+i)%len(byHash)])
	}
	return bs
}

// refMember is a member of the reference consistent ring.
type refMember string

func (m refMember) String() string { return string(m) }

// refHasher is the reference ring's hasher.
type refHasher struct{}

func (refHasher) Sum64(b []byte) uint64 { return xxhash.Sum64(b) }

// reference returns a consistent ring for cfg and names, built directly.
func reference(cfg ring.Config, names []string) *consistent.Consistent {
	ms := make([]consistent.Member, len(names))
	for i, n := range names {
		ms[i] = refMember(n)
	}
	return consistent.New(ms, consistent.Config{
		Hasher:            refHasher{},
		PartitionCount:    cfg.Partitions,
		ReplicationFactor: cfg.VirtualNodes,
		Load:              cfg.Load,
	})
}

// referenceOwners returns the owner of every partition in c.
func referenceOwners(c *consistent.Consistent, partitions int) []string {
	owners := make([]string, partitions)
	for p := range owners {
		owners[p] = c.GetPartitionOwner(p).String()
	}
	return owners
}

// ownerNames returns the owner of every partition in s.
func ownerNames(s *ring.Snapshot) []string {
	owners := make([]string, s.Partitions())
	for p := range owners {
		owners[p] = s.Owner(p).Name
	}
	return owners
}

// ownerMoves returns the partitions whose owner differs between two owner
// lists of the same length.
func ownerMoves(old, next []string) []ring.Move {
	var moves []ring.Move
	for p := range old {
		if old[p] != next[p] {
			moves = append(moves, ring.Move{Partition: p, From: old[p], To: next[p]})
		}
	}
	return moves
}
