package journal

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/ring"
	"github.com/hoard-dev/hoard/sinks"
)

// TestSettledRemovesOnlySegmentsLeftBehind: a sealed segment is removed
// once every partition of every store written to it has settled past its
// last op there, and not before.
func TestSettledRemovesOnlySegmentsLeftBehind(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(Config{Root: dir, Origin: "n1.1", SyncEvery: time.Hour, SegmentBytes: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := j.Close(); err != nil {
			t.Error(err)
		}
	}()
	// Two stores, interleaved in every segment; partition 700 of store a
	// lies far beyond the others.
	positions := []struct {
		store string
		p     int
	}{{"a", 3}, {"a", 700}, {"b", 3}}
	const perPosition = 30
	written := make(chan error, 1)
	for seq := uint64(1); seq <= perPosition; seq++ {
		for i, pos := range positions {
			var done op.Done
			if seq == perPosition && i == len(positions)-1 {
				done = op.DoneFunc(func(err error) { written <- err })
			}
			o := op.Op{Kind: op.Incr, Store: pos.store, Key: "k", Delta: 1}
			if err := j.Append(&o, pos.p, seq, done); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	segments := func() int {
		t.Helper()
		files, err := filepath.Glob(filepath.Join(dir, "n1.1", "*.wal"))
		if err != nil {
			t.Fatal(err)
		}
		return len(files)
	}
	all := segments()
	if all < 4 {
		t.Fatalf("%d segments; the test needs several", all)
	}
	settle := func(store string, p int, through uint64) {
		j.Settled(store, []sinks.Range{{Partition: p, First: 1, Last: through}})
	}

	settle("a", 3, perPosition)
	settle("a", 700, perPosition)
	if got := segments(); got != all {
		t.Fatalf("store a settled, b not: %d of %d segments left, want all", got, all)
	}
	settle("b", 3, perPosition/2)
	half := segments()
	if half >= all || half <= 1 {
		t.Fatalf("b settled through %d of %d: %d of %d segments left, want some removed and some kept", perPosition/2, perPosition, half, all)
	}
	settle("a", 700, perPosition) // again: changes nothing
	if got := segments(); got != half {
		t.Fatalf("a settled again: %d segments left, want %d", got, half)
	}
	settle("b", 3, perPosition)
	if got := segments(); got != 1 {
		t.Fatalf("everything settled: %d segments left, want the active one", got)
	}
}

// TestPartitionOutOfRange: a record naming a partition the ring cannot
// have (a peer's bad frame or trim) is refused, never indexed.
func TestPartitionOutOfRange(t *testing.T) {
	j, err := Open(Config{Root: t.TempDir(), Origin: "n1.1", SyncEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := j.Close(); err != nil {
			t.Error(err)
		}
	}()
	o := op.Op{Kind: op.Incr, Store: "a", Key: "k", Delta: 1}
	for _, p := range []int{-1, ring.MaxPartitions} {
		if err := j.AppendEncoded(AppendRecord(nil, &o, 0, 1), "a", p, 1, nil); err == nil {
			t.Errorf("partition %d appended", p)
		}
		rec := AppendRecord(nil, &o, p, 1)
		if _, _, _, err := PeekRecord(rec); !errors.Is(err, errBadRecord) {
			t.Errorf("partition %d: PeekRecord: %v", p, err)
		}
		if _, err := DecodeRecord(rec); !errors.Is(err, errBadRecord) {
			t.Errorf("partition %d: DecodeRecord: %v", p, err)
		}
	}
}
