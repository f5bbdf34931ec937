package journal

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/internal/flush"
	"github.com/hoard-dev/hoard/sinks"
)

// writeLog writes ops of origin under root as a journal would, and closes
// it: what a crash leaves.
func writeLog(t *testing.T, root, origin string, ops []Recorded) {
	t.Helper()
	j, err := Open(Config{Root: root, Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ops {
		if err := j.Append(&r.Op, r.Partition, r.Seq, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRecoverLeavesDeadLettersToTheDeadLetter: ops whose batch waits in
// the dead-letter are not sent again by the replay, so that replaying the
// dead letter later finds its range as it left it (not partly applied).
func TestRecoverLeavesDeadLettersToTheDeadLetter(t *testing.T) {
	root, dl := t.TempDir(), flush.NewDeadLetters(filepath.Join(t.TempDir(), "dl"))
	origin := "n1.1.aa"
	writeLog(t, root, origin, []Recorded{rec(0, 1, "a", 1), rec(0, 2, "a", 2), rec(0, 3, "a", 4), rec(0, 4, "b", 8)})
	letter := sinks.Batch{ID: "x", Store: "s", Kind: sinks.KindCounter, Origin: origin, Ranges: []sinks.Range{{Partition: 0, First: 1, Last: 2}}}
	if err := dl.Write(letter, os.ErrDeadlineExceeded, 1); err != nil {
		t.Fatal(err)
	}
	var got []sinks.Batch
	Recover(context.Background(), root, "n1.2.bb", "n1", dl, func(name string) (Replayer, bool) {
		return Replayer{Sink: sinks.NewMemory(), RetryMax: 1, Deliver: func(_ context.Context, b sinks.Batch, _ flush.Rebuild) error {
			got = append(got, b)
			return nil
		}}, true
	}, hclog.NewNullLogger())
	if len(got) != 1 || !slices.Equal(got[0].Ranges, []sinks.Range{{Partition: 0, First: 3, Last: 4}}) {
		t.Fatalf("replayed %+v, want one batch of seqs 3-4", got)
	}
	if _, err := os.Stat(filepath.Join(root, origin)); !os.IsNotExist(err) {
		t.Fatalf("the replayed log is still there: %v", err)
	}
}

// TestRecoverDeadLettersTheOpsOfAnUndeclaredStore: the log is not pinned
// by a store that is gone; its ops wait in the dead-letter.
func TestRecoverDeadLettersTheOpsOfAnUndeclaredStore(t *testing.T) {
	root, dl := t.TempDir(), flush.NewDeadLetters(filepath.Join(t.TempDir(), "dl"))
	origin := "n1.1.aa"
	writeLog(t, root, origin, []Recorded{rec(3, 1, "a", 5)})
	Recover(context.Background(), root, "n1.2.bb", "n1", dl, func(string) (Replayer, bool) { return Replayer{}, false }, hclog.NewNullLogger())
	letters, _, err := dl.List("s")
	if err != nil || len(letters) != 1 || letters[0].Batch.Counts[0].Count != 5 || letters[0].Batch.Origin != origin {
		t.Fatalf("dead letters %+v, %v", letters, err)
	}
	if _, err := os.Stat(filepath.Join(root, origin)); !os.IsNotExist(err) {
		t.Fatalf("the log is still there: %v", err)
	}
}

// TestRecoverKeepsALogItCannotSum: increments whose sum would overflow are
// never delivered wrapped; the log stays.
func TestRecoverKeepsALogItCannotSum(t *testing.T) {
	root, dl := t.TempDir(), flush.NewDeadLetters(filepath.Join(t.TempDir(), "dl"))
	origin := "n1.1.aa"
	writeLog(t, root, origin, []Recorded{rec(0, 1, "a", math.MaxInt64), rec(0, 2, "a", 1)})
	delivered := false
	Recover(context.Background(), root, "n1.2.bb", "n1", dl, func(string) (Replayer, bool) {
		return Replayer{Sink: sinks.NewMemory(), RetryMax: 1, Deliver: func(context.Context, sinks.Batch, flush.Rebuild) error { delivered = true; return nil }}, true
	}, hclog.NewNullLogger())
	if delivered {
		t.Fatal("an overflowing sum was delivered")
	}
	if _, err := os.Stat(filepath.Join(root, origin)); err != nil {
		t.Fatalf("the log is gone: %v", err)
	}
}
