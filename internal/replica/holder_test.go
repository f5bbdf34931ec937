package replica

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"go.uber.org/goleak"

	"github.com/hoard-dev/hoard/internal/journal"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/sinks"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recs encodes increments of key "k" in partition p with the given seqs.
func recs(p int, seqs ...uint64) [][]byte {
	var out [][]byte
	for _, s := range seqs {
		o := op.Op{Kind: op.Incr, Store: "pv", Key: "k", Delta: int64(s)}
		out = append(out, journal.AppendRecord(nil, &o, p, s))
	}
	return out
}

func hold(t *testing.T, h *Holder, origin string, records [][]byte) {
	t.Helper()
	done := make(chan error, 1)
	h.Hold(origin, frameOf(records), func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// frameOf makes a frame of records for Hold.
func frameOf(records [][]byte) []byte {
	var f []byte
	for _, r := range records {
		f = AppendFrame(f, r)
	}
	return f
}

func seqsOf(rs []journal.Recorded) []uint64 {
	var out []uint64
	for _, r := range rs {
		out = append(out, r.Seq)
	}
	return out
}

func TestHolder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps func(t *testing.T, h *Holder)
		want  []uint64 // seqs of partition 0 taken at the end
	}{
		{"holds in order", func(t *testing.T, h *Holder) {
			hold(t, h, "o.1.a", recs(0, 1, 2, 3))
		}, []uint64{1, 2, 3}},
		{"a frame sent again is held once", func(t *testing.T, h *Holder) {
			hold(t, h, "o.1.a", recs(0, 1, 2))
			hold(t, h, "o.1.a", recs(0, 1, 2, 3))
		}, []uint64{1, 2, 3}},
		{"a failed frame sent again after a later one is held in order", func(t *testing.T, h *Holder) {
			hold(t, h, "o.1.a", recs(0, 4, 5))
			hold(t, h, "o.1.a", recs(0, 1, 2, 3))
			hold(t, h, "o.1.a", recs(0, 2, 5, 6))
		}, []uint64{1, 2, 3, 4, 5, 6}},
		{"a trim drops through its last seq", func(t *testing.T, h *Holder) {
			hold(t, h, "o.1.a", recs(0, 1, 2, 3, 4))
			h.Trim("o.1.a", "pv", []sinks.Range{{Partition: 0, First: 1, Last: 3}})
		}, []uint64{4}},
		{"a trim ahead of its ops skips them when they come", func(t *testing.T, h *Holder) {
			h.Trim("o.1.a", "pv", []sinks.Range{{Partition: 0, First: 1, Last: 2}})
			hold(t, h, "o.1.a", recs(0, 1, 2, 3))
		}, []uint64{3}},
		{"ops sent again after a trim: the trimmed and held ones skipped, a new one held", func(t *testing.T, h *Holder) {
			hold(t, h, "o.1.a", recs(0, 1, 2, 3, 4))
			h.Trim("o.1.a", "pv", []sinks.Range{{Partition: 0, First: 1, Last: 2}})
			hold(t, h, "o.1.a", recs(0, 2, 3, 5))
		}, []uint64{3, 4, 5}},
		{"a trim of another partition keeps this one", func(t *testing.T, h *Holder) {
			hold(t, h, "o.1.a", recs(0, 1, 2))
			h.Trim("o.1.a", "pv", []sinks.Range{{Partition: 1, First: 1, Last: 9}})
		}, []uint64{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHolder(HolderConfig{Root: t.TempDir()})
			tc.steps(t, h)
			taken, _ := h.Take("o.1.a")
			if got := seqsOf(taken["pv"]); !slices.Equal(got, tc.want) {
				t.Fatalf("took %v, want %v", got, tc.want)
			}
			if h.Ops() != 0 || h.Held("o.1.a") != 0 {
				t.Fatalf("still holds %d ops after Take", h.Ops())
			}
			if err := h.Release("o.1.a"); err != nil {
				t.Fatal(err)
			}
			if err := h.Close(func(string) bool { return true }); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestHolderLogOutlivesACrash: ops held and not delivered (nor trimmed) are
// in the origin's log under Root when the node stops without delivering
// them, and gone from disk once the owner left (Drop).
func TestHolderLogOutlivesACrash(t *testing.T) {
	root := filepath.Join(t.TempDir(), "replicas", "me.1.x")
	h := NewHolder(HolderConfig{Root: root})
	hold(t, h, "a.1.x", recs(0, 1, 2, 3, 4))
	h.Trim("a.1.x", "pv", []sinks.Range{{Partition: 0, First: 1, Last: 2}})
	hold(t, h, "b.1.x", recs(3, 7))
	if err := h.Drop("b.1.x"); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(func(string) bool { return true }); err != nil {
		t.Fatal(err)
	}
	got, _, err := journal.ReadOrigin(root, "a.1.x")
	if err != nil || !slices.Equal(seqsOf(got), []uint64{3, 4}) {
		t.Fatalf("a.1.x's log holds %v, %v; want seqs 3 and 4 (1 and 2 trimmed)", seqsOf(got), err)
	}
	if _, err := os.Stat(filepath.Join(root, "b.1.x")); !os.IsNotExist(err) {
		t.Fatalf("the log of a member that left is still there: %v", err)
	}
}

func TestClosedHolderRefusesOps(t *testing.T) {
	h := NewHolder(HolderConfig{Root: t.TempDir()})
	if err := h.Close(func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	h.Hold("a.1.x", frameOf(recs(0, 1)), func(err error) { done <- err })
	if err := <-done; err == nil {
		t.Fatal("a closed holder took ops")
	}
}
