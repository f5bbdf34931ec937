package ring_test

import (
	"fmt"

	"github.com/hoard-dev/hoard/ring"
)

func ExampleNew() {
	s, err := ring.New(ring.DefaultConfig(), 1, []ring.Member{
		{Name: "n1", Addr: "10.0.0.1:7373"},
		{Name: "n2", Addr: "10.0.0.2:7373"},
		{Name: "n3", Addr: "10.0.0.3:7373"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	p, owner := s.Locate("pageviews", "/home")
	fmt.Println("partition", p, "owner", owner.Name, "at", owner.Addr)
	fmt.Println("backups", len(s.Backups(p)))
	fmt.Println(s.Fingerprint())

	// n4 joins: a new snapshot, and the partitions that change owner.
	next, err := ring.New(s.Config(), 2, append(s.Members(), ring.Member{Name: "n4", Addr: "10.0.0.4:7373"}))
	if err != nil {
		fmt.Println(err)
		return
	}
	moves := ring.Diff(s, next)
	fmt.Println(len(moves), "of", next.Partitions(), "partitions move")
	// Output:
	// partition 744 owner n1 at 10.0.0.1:7373
	// backups 2
	// ring1/xxhash64/p1021/l1.25/v20
	// 218 of 1021 partitions move
}
