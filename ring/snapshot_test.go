package ring_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/hoard-dev/hoard/ring"
)

// three is a small valid member list.
var three = []ring.Member{
	{Name: "n1", Addr: "10.0.0.1:7373"},
	{Name: "n2", Addr: "10.0.0.2:7373"},
	{Name: "n3", Addr: "10.0.0.3:7373"},
}

func TestNewErrors(t *testing.T) {
	cfg := func(edit func(*ring.Config)) ring.Config {
		c := ring.DefaultConfig()
		edit(&c)
		return c
	}
	tests := []struct {
		name    string
		cfg     ring.Config
		members []ring.Member
		want    error
	}{
		{"nil members", ring.DefaultConfig(), nil, ring.ErrNoMembers},
		{"empty members", ring.DefaultConfig(), []ring.Member{}, ring.ErrNoMembers},
		{"empty name", ring.DefaultConfig(), []ring.Member{{Name: "n1"}, {Addr: "x:1"}}, ring.ErrInvalidMember},
		{"only empty name", ring.DefaultConfig(), []ring.Member{{}}, ring.ErrInvalidMember},
		{"duplicate name", ring.DefaultConfig(), []ring.Member{{Name: "a", Addr: "x:1"}, {Name: "b"}, {Name: "a", Addr: "x:2"}}, ring.ErrInvalidMember},
		{"fewer partitions than members", cfg(func(c *ring.Config) { c.Partitions = 2 }), three, ring.ErrTooFewPartitions},
		{"zero config", ring.Config{}, three, ring.ErrInvalidConfig},
		{"zero partitions", cfg(func(c *ring.Config) { c.Partitions = 0 }), three, ring.ErrInvalidConfig},
		{"negative partitions", cfg(func(c *ring.Config) { c.Partitions = math.MinInt }), three, ring.ErrInvalidConfig},
		{"huge partitions", cfg(func(c *ring.Config) { c.Partitions = math.MaxInt }), three, ring.ErrInvalidConfig},
		{"load below one", cfg(func(c *ring.Config) { c.Load = 0.5 }), three, ring.ErrInvalidConfig},
		{"NaN load", cfg(func(c *ring.Config) { c.Load = math.NaN() }), three, ring.ErrInvalidConfig},
		{"infinite load", cfg(func(c *ring.Config) { c.Load = math.Inf(1) }), three, ring.ErrInvalidConfig},
		{"zero virtual nodes", cfg(func(c *ring.Config) { c.VirtualNodes = 0 }), three, ring.ErrInvalidConfig},
		{"huge virtual nodes", cfg(func(c *ring.Config) { c.VirtualNodes = math.MaxInt }), three, ring.ErrInvalidConfig},
		{"negative backups", cfg(func(c *ring.Config) { c.Backups = -1 }), three, ring.ErrInvalidConfig},
		{"invalid config before members", ring.Config{}, nil, ring.ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("New panicked: %v", r)
				}
			}()
			s, err := ring.New(tt.cfg, 1, tt.members)
			if !errors.Is(err, tt.want) {
				t.Fatalf("New() error = %v, want %v", err, tt.want)
			}
			if s != nil {
				t.Errorf("New() snapshot = %p, want nil on error", s)
			}
		})
	}
}

func TestNewEdgeCases(t *testing.T) {
	tests := []struct {
		name        string
		cfg         ring.Config
		members     int
		wantBackups int
	}{
		{"one partition one member", ring.Config{Partitions: 1, Load: 1, VirtualNodes: 1}, 1, 0},
		{"partitions equal members", ring.Config{Partitions: 5, Load: 1, VirtualNodes: 1, Backups: 2}, 5, 2},
		{"single member", ring.DefaultConfig(), 1, 0},
		{"two members", ring.DefaultConfig(), 2, 1},
		{"backups above members", ring.Config{Partitions: 64, Load: 1, VirtualNodes: 3, Backups: 100}, 4, 3},
		{"huge load", ring.Config{Partitions: 97, Load: math.MaxFloat64, VirtualNodes: 2, Backups: 1}, 7, 1},
		{"load one, indivisible", ring.Config{Partitions: 1021, Load: 1, VirtualNodes: 1, Backups: 2}, 64, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := randomMembers(rand.New(rand.NewPCG(1, uint64(tt.members))), tt.members)
			s, err := ring.New(tt.cfg, 7, ms)
			if err != nil {
				t.Fatalf("New() = %v", err)
			}
			if s.Partitions() != tt.cfg.Partitions || s.Version() != 7 || s.Config() != tt.cfg {
				t.Fatalf("Partitions, Version, Config = %d, %d, %+v", s.Partitions(), s.Version(), s.Config())
			}
			checkInvariants(t, s, tt.cfg, ms)
			if got := len(s.Backups(0)); got != tt.wantBackups {
				t.Errorf("len(Backups(0)) = %d, want %d", got, tt.wantBackups)
			}
		})
	}
}

func TestShuffledInputSamePlacement(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	for _, n := range []int{1, 2, 3, 16, 64} {
		ms := randomMembers(r, n)
		a, err := ring.New(ring.DefaultConfig(), 1, ms)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ring.New(ring.DefaultConfig(), 2, shuffled(r, ms))
		if err != nil {
			t.Fatal(err)
		}
		if !samePlacement(a, b) {
			t.Errorf("members=%d: shuffled input changed the placement", n)
		}
		if a.Checksum() != b.Checksum() {
			t.Errorf("members=%d: shuffled input changed the checksum", n)
		}
	}
}

// samePlacement reports whether a and b have the same members, owners and
// backups.
func samePlacement(a, b *ring.Snapshot) bool {
	if a.Partitions() != b.Partitions() || !slices.Equal(a.Members(), b.Members()) {
		return false
	}
	for p := range a.Partitions() {
		if a.Owner(p) != b.Owner(p) || !slices.Equal(a.Backups(p), b.Backups(p)) {
			return false
		}
	}
	return true
}

func TestKeyPartitionMatchesConsistent(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, partitions := range []int{1, 2, 7, 271, 1021, 65536} {
		cfg := ring.DefaultConfig()
		cfg.Partitions = partitions
		s, err := ring.New(cfg, 1, three[:1])
		if err != nil {
			t.Fatal(err)
		}
		c := reference(cfg, []string{"n1"})
		for range 500 {
			store, key := randomName(r), randomName(r)
			if r.IntN(10) == 0 {
				store = ""
			}
			want := c.FindPartitionID([]byte(store + "\x00" + key))
			if got := s.Partition(store, key); got != want {
				t.Fatalf("p=%d: Partition(%q, %q) = %d, consistent says %d", partitions, store, key, got, want)
			}
			if got := ring.PartitionOf(partitions, store, key); got != want {
				t.Fatalf("p=%d: PartitionOf(%q, %q) = %d, consistent says %d", partitions, store, key, got, want)
			}
		}
	}
	// The separator keeps store and key apart.
	if ring.PartitionOf(1<<20, "ab", "c") == ring.PartitionOf(1<<20, "a", "bc") {
		t.Error(`"ab"/"c" and "a"/"bc" share a partition`)
	}
}

func TestPartitionOfInvalidCount(t *testing.T) {
	for _, n := range []int{0, -1, math.MinInt} {
		if got := ring.PartitionOf(n, "s", "k"); got != 0 {
			t.Errorf("PartitionOf(%d) = %d, want 0", n, got)
		}
	}
}

func TestLocateDoesNotAllocate(t *testing.T) {
	s, err := ring.New(ring.DefaultConfig(), 1, three)
	if err != nil {
		t.Fatal(err)
	}
	store, key := "pageviews", "/home/some/longer/path/than/thirty/two/bytes"
	if allocs := testing.AllocsPerRun(1000, func() { s.Locate(store, key) }); allocs != 0 {
		t.Errorf("Locate allocates %v times per call, want 0", allocs)
	}
	if allocs := testing.AllocsPerRun(1000, func() { s.Partition(store, key) }); allocs != 0 {
		t.Errorf("Partition allocates %v times per call, want 0", allocs)
	}
}

func TestConcurrentReads(t *testing.T) {
	s, err := ring.New(ring.DefaultConfig(), 1, three)
	if err != nil {
		t.Fatal(err)
	}
	want := ownerNames(s)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 9))
			for range 2000 {
				p, owner := s.Locate("events", randomName(r))
				if owner.Name != want[p] || len(s.Backups(p)) != 2 {
					t.Errorf("partition %d: owner %q, want %q", p, owner.Name, want[p])
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestOutOfRange(t *testing.T) {
	s, err := ring.New(ring.DefaultConfig(), 1, three)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []int{-1, s.Partitions(), math.MaxInt, math.MinInt} {
		if got := s.Owner(p); got != (ring.Member{}) {
			t.Errorf("Owner(%d) = %+v, want zero", p, got)
		}
		if got := s.Backups(p); got != nil {
			t.Errorf("Backups(%d) = %v, want nil", p, got)
		}
		if s.Owns("n1", p) {
			t.Errorf("Owns(n1, %d) = true", p)
		}
	}
	if _, ok := s.Member("nope"); ok {
		t.Error(`Member("nope") found`)
	}
	if got := s.PartitionsOf("nope"); got != nil {
		t.Errorf(`PartitionsOf("nope") = %v, want nil`, got)
	}
}

func TestAccessorsReturnCopies(t *testing.T) {
	s, err := ring.New(ring.DefaultConfig(), 1, slices.Clone(three))
	if err != nil {
		t.Fatal(err)
	}
	ms := s.Members()
	ms[0].Name = "changed"
	if s.Members()[0].Name != "n1" {
		t.Error("Members() shares the snapshot's slice")
	}
	// A caller appending to Backups must not overwrite the next partition's.
	before := slices.Clone(s.Backups(1))
	_ = append(s.Backups(0), ring.Member{Name: "x"})
	if !slices.Equal(s.Backups(1), before) {
		t.Error("append to Backups(0) changed Backups(1)")
	}
}

func TestChecksum(t *testing.T) {
	sum := func(ms ...ring.Member) uint64 {
		t.Helper()
		s, err := ring.New(ring.DefaultConfig(), 1, ms)
		if err != nil {
			t.Fatal(err)
		}
		return s.Checksum()
	}
	base := sum(three...)
	tests := []struct {
		name    string
		members []ring.Member
		same    bool
	}{
		{"reordered", []ring.Member{three[2], three[0], three[1]}, true},
		{"other addr", []ring.Member{three[0], three[1], {Name: "n3", Addr: "10.0.0.9:7373"}}, false},
		{"other name", []ring.Member{three[0], three[1], {Name: "n4", Addr: three[2].Addr}}, false},
		{"fewer", three[:2], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if same := sum(tt.members...) == base; same != tt.same {
				t.Errorf("same checksum = %v, want %v", same, tt.same)
			}
		})
	}
	t.Run("name and addr kept apart", func(t *testing.T) {
		if sum(ring.Member{Name: "ab", Addr: "c"}) == sum(ring.Member{Name: "a", Addr: "bc"}) {
			t.Error("checksum ignores the name/addr boundary")
		}
	})
}
