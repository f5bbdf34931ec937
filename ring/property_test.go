package ring_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/hoard-dev/hoard/ring"
)

func TestPropertiesRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 7))
	trials := 120
	if testing.Short() {
		trials = 20
	}
	for i := range trials {
		n := 1 + r.IntN(64)
		cfg := ring.Config{
			Partitions:   n + r.IntN(1500),
			Load:         1 + r.Float64(),
			VirtualNodes: 1 + r.IntN(40),
			Backups:      r.IntN(5),
		}
		if i%4 == 0 { // a quarter with the defaults
			cfg = ring.DefaultConfig()
		}
		ms := randomMembers(r, n)
		t.Run(fmt.Sprintf("%d/members=%d/%s/b%d", i, n, cfg.Fingerprint(), cfg.Backups), func(t *testing.T) {
			s, err := ring.New(cfg, uint64(i), ms)
			if err != nil {
				t.Fatalf("New() = %v", err)
			}
			checkInvariants(t, s, cfg, ms)
			checkLocate(t, r, s)
			again, err := ring.New(cfg, uint64(i), shuffled(r, ms))
			if err != nil {
				t.Fatal(err)
			}
			if !samePlacement(s, again) {
				t.Error("shuffled input changed the placement")
			}
		})
	}
}

// checkInvariants checks s, built from cfg and ms, against the naive model
// and a reference consistent ring.
func checkInvariants(t *testing.T, s *ring.Snapshot, cfg ring.Config, ms []ring.Member) {
	t.Helper()
	want := slices.Clone(ms)
	slices.SortFunc(want, func(a, b ring.Member) int { return strings.Compare(a.Name, b.Name) })
	if !slices.Equal(s.Members(), want) {
		t.Fatalf("Members() = %v, want %v sorted by name", s.Members(), want)
	}
	for _, m := range ms {
		if got, ok := s.Member(m.Name); !ok || got != m {
			t.Fatalf("Member(%q) = %+v, %v", m.Name, got, ok)
		}
	}
	if s.Fingerprint() != cfg.Fingerprint() {
		t.Errorf("Fingerprint() = %q, want %q", s.Fingerprint(), cfg.Fingerprint())
	}

	owners := ownerNames(s)
	model := naiveOwners(cfg, names(ms))
	ref := referenceOwners(reference(cfg, names(ms)), cfg.Partitions)
	nb := min(cfg.Backups, len(ms)-1)
	for p, owner := range owners {
		if m, ok := s.Member(owner); !ok || m != s.Owner(p) {
			t.Fatalf("partition %d: owner %+v is not a member", p, s.Owner(p))
		}
		if owner != model[p] || owner != ref[p] {
			t.Fatalf("partition %d: owner %q, model %q, consistent %q", p, owner, model[p], ref[p])
		}
		if !s.Owns(owner, p) {
			t.Fatalf("partition %d: Owns(%q) = false", p, owner)
		}
		checkBackups(t, s, p, nb, names(ms))
	}

	capacity := math.Ceil(float64(cfg.Partitions) / float64(len(ms)) * cfg.Load) // may be +Inf
	load := s.Load()
	if len(load) != len(ms) {
		t.Errorf("Load() has %d members, want %d", len(load), len(ms))
	}
	total := 0
	for _, m := range ms {
		got := s.PartitionsOf(m.Name)
		var wantPs []int
		for p, o := range owners {
			if o == m.Name {
				wantPs = append(wantPs, p)
			}
		}
		if !slices.Equal(got, wantPs) {
			t.Errorf("PartitionsOf(%q) = %v, want %v", m.Name, got, wantPs)
		}
		if load[m.Name] != len(wantPs) {
			t.Errorf("Load()[%q] = %d, want %d", m.Name, load[m.Name], len(wantPs))
		}
		if float64(load[m.Name]) > capacity {
			t.Errorf("member %q owns %d partitions, bound %v", m.Name, load[m.Name], capacity)
		}
		total += load[m.Name]
	}
	if total != cfg.Partitions {
		t.Errorf("Load() sums to %d, want %d", total, cfg.Partitions)
	}
}

// checkBackups checks partition p's backups in s: nb distinct members other
// than the owner, in the model's order.
func checkBackups(t *testing.T, s *ring.Snapshot, p, nb int, all []string) {
	t.Helper()
	owner := s.Owner(p)
	bs := s.Backups(p)
	if len(bs) != nb {
		t.Fatalf("partition %d: %d backups, want %d", p, len(bs), nb)
	}
	seen := map[string]bool{owner.Name: true}
	for _, b := range bs {
		if m, ok := s.Member(b.Name); !ok || m != b {
			t.Fatalf("partition %d: backup %+v is not a member", p, b)
		}
		if seen[b.Name] {
			t.Fatalf("partition %d: backup %q repeats the owner or another backup", p, b.Name)
		}
		seen[b.Name] = true
	}
	if want := naiveBackups(all, owner.Name, nb); !slices.Equal(names(bs), want) {
		t.Fatalf("partition %d: backups %v, model %v", p, names(bs), want)
	}
}

// checkLocate checks Locate against Partition and Owner on random keys.
func checkLocate(t *testing.T, r *rand.Rand, s *ring.Snapshot) {
	t.Helper()
	for range 200 {
		store, key := randomName(r), randomName(r)
		p, owner := s.Locate(store, key)
		if p != s.Partition(store, key) || p != ring.PartitionOf(s.Partitions(), store, key) {
			t.Fatalf("Locate(%q, %q) partition %d, Partition %d", store, key, p, s.Partition(store, key))
		}
		if owner != s.Owner(p) {
			t.Fatalf("Locate(%q, %q) owner %+v, Owner(%d) %+v", store, key, owner, p, s.Owner(p))
		}
	}
}

func TestBackupsMatchConsistent(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for _, n := range []int{1, 2, 3, 5, 16, 64} {
		t.Run(fmt.Sprintf("members=%d", n), func(t *testing.T) {
			ms := randomMembers(r, n)
			cfg := ring.DefaultConfig()
			cfg.Backups = 3
			s, err := ring.New(cfg, 1, ms)
			if err != nil {
				t.Fatal(err)
			}
			c := reference(cfg, names(ms))
			k := min(cfg.Backups, n-1)
			for p := range cfg.Partitions {
				closest, err := c.GetClosestNForPartition(p, k+1)
				if err != nil {
					t.Fatal(err)
				}
				want := make([]string, 0, k)
				for _, m := range closest[1:] {
					want = append(want, m.String())
				}
				if closest[0].String() != s.Owner(p).Name || !slices.Equal(names(s.Backups(p)), want) {
					t.Fatalf("partition %d: owner %q backups %v, consistent %v", p, s.Owner(p).Name, names(s.Backups(p)), closest)
				}
			}
		})
	}
}
