package ring_test

import (
	"fmt"
	"testing"

	"github.com/hoard-dev/hoard/ring"
)

// benchMembers returns n members named like real nodes.
func benchMembers(n int) []ring.Member {
	ms := make([]ring.Member, n)
	for i := range ms {
		ms[i] = ring.Member{Name: fmt.Sprintf("node-%02d", i), Addr: fmt.Sprintf("10.0.0.%d:7373", i+1)}
	}
	return ms
}

func BenchmarkLocate(b *testing.B) {
	for _, n := range []int{3, 16, 64} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			s, err := ring.New(ring.DefaultConfig(), 1, benchMembers(n))
			if err != nil {
				b.Fatal(err)
			}
			keys := make([]string, 1024)
			for i := range keys {
				keys[i] = fmt.Sprintf("user-%d", i)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				_, _ = s.Locate("pageviews", keys[i&1023])
				i++
			}
		})
	}
}

func BenchmarkNew(b *testing.B) {
	for _, n := range []int{3, 16, 64} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			members := benchMembers(n)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ring.New(ring.DefaultConfig(), 1, members); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
