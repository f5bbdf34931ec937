// Package ring is hoard's placement math: it maps keys to partitions and
// partitions to the members of a cluster, by consistent hashing with bounded
// loads (github.com/buraksezer/consistent over xxhash64).
//
// A key's partition is xxhash64(store + "\x00" + key) % Partitions. [New]
// turns a member list into an immutable [Snapshot] that holds, for every
// partition, its owner and its ordered backups. Key lookups
// ([Snapshot.Locate]) take no lock and do not allocate, so a node keeps its
// current snapshot behind an atomic.Pointer and swaps in a new one when
// membership changes; [Diff] lists the partitions that change owner.
//
// The package does no I/O, starts no goroutines and has no package-level
// mutable state.
//
//	s, err := ring.New(ring.DefaultConfig(), 1, []ring.Member{
//		{Name: "n1", Addr: "10.0.0.1:7373"},
//		{Name: "n2", Addr: "10.0.0.2:7373"},
//	})
//	if err != nil {
//		return err
//	}
//	p, owner := s.Locate("pageviews", "/home")
//	if owner.Name != self {
//		forward(owner.Addr, p) // or apply locally when we own it
//	}
//
// Every node must build its snapshots with the same Config; compare
// [Config.Fingerprint] when nodes meet, and [Snapshot.Checksum] to check that
// two nodes see the same members.
package ring
