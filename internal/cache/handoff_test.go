package cache

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/op"
)

// TestDeleteOutlivesAHandOff: an entry the partition's previous owner hands
// over after a delete here (a hand-off arrives late) does not bring the
// key back, whether or not this node held it, until DeleteMemory passes;
// a partition taken away forgets its deletes.
func TestDeleteOutlivesAHandOff(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"a delete of a held key", []step{
			{op: "set", key: "a", value: "new"},
			{op: "delete", key: "a", wantOK: true},
			{op: "adopt", key: "a", value: "old", d: time.Minute},
			{op: "get", key: "a"},
			{op: "len", wantN: 0},
		}},
		{"a delete before the entry arrived", []step{
			{op: "delete", key: "a"},
			{op: "adopt", key: "a", value: "old", d: time.Second},
			{op: "get", key: "a"},
			{op: "adopt", p: 1, key: "a", value: "other partition", wantOK: true},
		}},
		{"remembered for DeleteMemory", []step{
			{op: "delete", key: "a"},
			{op: "advance", d: DeleteMemory - time.Nanosecond},
			{op: "adopt", key: "a", value: "old"},
			{op: "advance", d: time.Nanosecond},
			{op: "adopt", key: "a", value: "late", wantOK: true},
			{op: "get", key: "a", want: "late"},
		}},
		{"a later delete starts again", []step{
			{op: "delete", key: "a"},
			{op: "advance", d: DeleteMemory / 2},
			{op: "delete", key: "a"},
			{op: "advance", d: DeleteMemory / 2},
			{op: "sweep"},
			{op: "adopt", key: "a", value: "old"},
		}},
		{"a set and a load still come after a delete", []step{
			{op: "delete", key: "a"},
			{op: "set", key: "a", value: "set"},
			{op: "get", key: "a", want: "set"},
			{op: "delete", key: "b"},
			{op: "start", key: "b", wantFirst: true},
			{op: "finish", key: "b", value: "loaded", wantN: 1},
			{op: "get", key: "b", want: "loaded"},
		}},
		{"a partition taken away forgets its deletes", []step{
			{op: "delete", p: 2, key: "a"},
			{op: "drop", p: 2},
			{op: "adopt", p: 2, key: "a", value: "back", wantOK: true},
			{op: "get", p: 2, key: "a", want: "back"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, now := newTestStore(Config{Partitions: 4})
			runSteps(t, c, now, tt.steps)
		})
	}
}

// TestSweepForgetsOldDeletes: the sweep lets go of the deletes older than
// DeleteMemory, and of the memory that held them.
func TestSweepForgetsOldDeletes(t *testing.T) {
	c, now := newTestStore(Config{Partitions: 4})
	for i := range 100 {
		c.Delete(i%4, string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	if n := c.deletes.Load(); n != 100 {
		t.Fatalf("remembers %d deletes, want 100", n)
	}
	now.Add(int64(DeleteMemory / 2))
	c.Delete(0, "aa") // again: remembered from now
	c.Sweep()
	if n := c.deletes.Load(); n != 100 {
		t.Fatalf("a sweep within DeleteMemory left %d deletes, want 100", n)
	}
	now.Add(int64(DeleteMemory / 2))
	c.Sweep()
	if n := c.deletes.Load(); n != 1 {
		t.Fatalf("a sweep after DeleteMemory left %d deletes, want 1 (the one repeated)", n)
	}
	now.Add(int64(DeleteMemory))
	c.Sweep()
	for i := range c.shards {
		if c.shards[i].deleted != nil {
			t.Fatalf("partition %d still holds its map of deletes", i)
		}
	}
	if n := c.deletes.Load(); n != 0 {
		t.Fatalf("%d deletes left, want 0", n)
	}
}

// TestAdoptAfterDeleteThroughOps: the sequence a new owner sees when a
// client deletes a key before the old owner's entry arrives, as ops.
func TestAdoptAfterDeleteThroughOps(t *testing.T) {
	e := testEngine(t, "", nil)
	if r, ok := e.Apply(&op.Op{Kind: op.Delete, Key: "k"}, 0, nil); !ok || r.Deleted {
		t.Fatalf("delete: %+v, %v", r, ok)
	}
	e.Apply(&op.Op{Kind: op.Adopt, Key: "k", Values: [][]byte{[]byte("deleted")}, Delta: time.Now().Add(-time.Second).UnixNano()}, 0, nil)
	if v, ok := e.state.Get(0, "k"); ok {
		t.Fatalf("the handed-over entry undid the delete: %q", v)
	}
	var got op.Result
	if _, ok := e.Apply(&op.Op{Kind: op.Get, Key: "k"}, 0, func(r op.Result) { got = r }); ok {
		t.Fatal("a read after the delete hit")
	}
	if !got.Loaded || string(got.Value) != "v:k" { // testEngine runs the load at once
		t.Fatalf("a read after the delete got %+v; want the origin's v:k, loaded", got)
	}
}

// TestAdoptTakesTheNewer: an entry handed over replaces one stored here
// before it was (read back from a dump, when a node restarts), and not
// one stored here at or after it.
func TestAdoptTakesTheNewer(t *testing.T) {
	c, now := newTestStore(Config{Partitions: 4})
	runSteps(t, c, now, []step{
		{op: "restore", key: "a", value: "from the dump", d: time.Hour, wantOK: true},
		{op: "adopt", key: "a", value: "set meanwhile", d: time.Minute, wantOK: true},
		{op: "get", key: "a", want: "set meanwhile"},
		{op: "adopt", key: "a", value: "older", d: 2 * time.Minute},
		{op: "adopt", key: "a", value: "as old", d: time.Minute},
		{op: "get", key: "a", want: "set meanwhile"},
		{op: "len", wantN: 1},
	})
}

// TestDeletesAreHandedOver: a partition taken away gives the keys deleted
// there lately and holding no entry since; the next owner drops what it
// holds from before each delete, keeps what it stored after, and adopts no
// older entry of the key.
func TestDeletesAreHandedOver(t *testing.T) {
	old, oldNow := newTestStore(Config{Partitions: 4})
	old.Delete(1, "gone")
	old.Delete(1, "back")
	old.Set(1, "back", []byte("set after the delete"))
	old.Delete(1, "long ago")
	oldNow.Add(int64(DeleteMemory / 2))
	old.Delete(1, "gone") // again: the latest delete is handed over
	oldNow.Add(int64(DeleteMemory/2) + 1)
	old.Delete(2, "elsewhere")
	entries, deletes := old.TakePartition(1)
	if len(entries) != 1 || entries[0].Key != "back" {
		t.Fatalf("took entries %+v, want back's", entries)
	}
	if len(deletes) != 1 || deletes[0].Key != "gone" || deletes[0].Partition != 1 || deletes[0].At.UnixNano() != oldNow.Load()-int64(DeleteMemory/2)-1 {
		t.Fatalf("took deletes %+v, want gone's latest (not back's, set since; not one past DeleteMemory; not partition 2's)", deletes)
	}
	if n := old.deletes.Load(); n != 1 {
		t.Fatalf("the old owner still remembers %d deletes, want 1 (partition 2's)", n)
	}

	next, now := newTestStore(Config{Partitions: 4})
	now.Store(oldNow.Load())
	at := deletes[0].At
	runSteps(t, next, now, []step{
		{op: "restore", p: 1, key: "gone", value: "from the dump", d: time.Hour, wantOK: true},
		{op: "set", p: 1, key: "newer", value: "set here after"},
	})
	if !next.AdoptDelete(1, "gone", at) {
		t.Fatal("the delete did not drop an entry from before it")
	}
	if next.AdoptDelete(1, "newer", at) {
		t.Fatal("the delete dropped an entry stored after it")
	}
	if next.AdoptDelete(1, "stale", time.Unix(0, now.Load()-int64(DeleteMemory))) || next.deletes.Load() != 2 {
		t.Fatalf("a delete past DeleteMemory was taken: %d remembered, want 2", next.deletes.Load())
	}
	runSteps(t, next, now, []step{
		{op: "get", p: 1, key: "gone"},
		{op: "get", p: 1, key: "newer", want: "set here after"},
		{op: "adopt", p: 1, key: "gone", value: "from before the delete", d: time.Hour},
		{op: "len", wantN: 1},
	})
}

// TestAdoptOpsCarryDeletes: an Adopt with no value is a delete handed
// over, which drops an entry read from the dump before it; one with more
// than one value is an error.
func TestAdoptOpsCarryDeletes(t *testing.T) {
	e := testEngine(t, "", nil)
	e.state.Restore(0, "k", []byte("from the dump"), time.Now().Add(-time.Hour), time.Time{})
	if r, ok := e.Apply(&op.Op{Kind: op.Adopt, Key: "k", Delta: time.Now().Add(-time.Second).UnixNano()}, 0, nil); !ok || r.Err != nil || !r.Deleted {
		t.Fatalf("adopt of a delete after the entry: %+v, %v", r, ok)
	}
	if _, ok := e.state.Get(0, "k"); ok {
		t.Fatal("the entry stayed")
	}
	r, _ := e.Apply(&op.Op{Kind: op.Adopt, Key: "k", Values: [][]byte{[]byte("a"), []byte("b")}}, 0, nil)
	if !errors.Is(r.Err, errs.ErrInvalidValue) {
		t.Fatalf("adopt of two values: %v, want ErrInvalidValue", r.Err)
	}
}

// TestLiveEntriesWinWhateverTheClocks: an entry set, loaded or refreshed
// here came after the partition moved, so neither an entry nor a delete
// handed over replaces it, even one stamped later by a clock ahead of
// this node's.
func TestLiveEntriesWinWhateverTheClocks(t *testing.T) {
	c, now := newTestStore(Config{Partitions: 4})
	runSteps(t, c, now, []step{
		{op: "set", key: "a", value: "set here"},
		{op: "start", key: "b", wantFirst: true},
		{op: "finish", key: "b", value: "loaded here", wantN: 1},
		{op: "adopt", key: "a", value: "stamped later", d: -time.Second},
		{op: "adopt", key: "b", value: "stamped later", d: -time.Second},
	})
	for _, k := range []string{"a", "b"} {
		if c.AdoptDelete(0, k, time.Unix(0, now.Load()+int64(time.Second))) {
			t.Fatalf("a delete stamped later removed %s", k)
		}
	}
	runSteps(t, c, now, []step{
		{op: "get", key: "a", want: "set here"},
		{op: "get", key: "b", want: "loaded here"},
	})
}

// TestRestoredEntriesYieldForDeleteMemory: entries read from the dump
// yield to newer ones handed over for DeleteMemory after the restore; the
// sweep after that forgets them, and they hold their place as any other.
func TestRestoredEntriesYieldForDeleteMemory(t *testing.T) {
	c, now := newTestStore(Config{Partitions: 4})
	runSteps(t, c, now, []step{
		{op: "restore", key: "a", value: "dump", d: time.Hour, ttl: 2 * time.Hour, wantOK: true},
		{op: "restore", key: "b", value: "dump", d: time.Hour, wantOK: true},
		{op: "adopt", key: "a", value: "newer", d: time.Minute, wantOK: true},
		{op: "get", key: "a", want: "newer"},
		{op: "advance", d: DeleteMemory - time.Nanosecond},
		{op: "sweep"},
		{op: "adopt", key: "b", value: "still", d: time.Minute, wantOK: true},
		{op: "restore", p: 1, key: "c", value: "dump", d: time.Hour, wantOK: true},
		{op: "advance", d: DeleteMemory},
		{op: "sweep"},
		{op: "adopt", p: 1, key: "c", value: "too late", d: time.Minute},
		{op: "get", p: 1, key: "c", want: "dump"},
	})
	if n := c.expiring.Load(); n != 0 {
		t.Fatalf("%d entries counted with an expiry, want 0: a's was replaced by one without", n)
	}
	for i := range c.shards {
		if c.shards[i].restored != nil {
			t.Fatalf("partition %d still knows its restored entries", i)
		}
	}
	if at := c.restoredAt.Load(); at != 0 {
		t.Fatalf("the store still dates a restore at %d: every sweep would visit every partition", at)
	}
}

// TestHandedDeleteTimesAreBounded: a delete handed over with a time past
// DeleteMemory (or the farthest past an int64 holds) is ignored; one from
// the future counts as now, and is forgotten DeleteMemory after.
func TestHandedDeleteTimesAreBounded(t *testing.T) {
	c, now := newTestStore(Config{Partitions: 4})
	c.Restore(0, "k", []byte("dump"), time.Unix(0, now.Load()-int64(time.Hour)), time.Time{})
	for _, at := range []int64{math.MinInt64, now.Load() - int64(DeleteMemory)} {
		if c.AdoptDelete(0, "k", time.Unix(0, at)) || c.deletes.Load() != 0 {
			t.Fatalf("a delete at %d was taken", at)
		}
	}
	if !c.AdoptDelete(0, "k", time.Unix(0, math.MaxInt64)) {
		t.Fatal("a delete from the future did not drop the dump's entry")
	}
	now.Add(int64(DeleteMemory))
	c.Sweep()
	if n := c.deletes.Load(); n != 0 {
		t.Fatalf("a delete from the future is still remembered after DeleteMemory (%d)", n)
	}
	if _, deletes := c.TakePartition(0); len(deletes) != 0 {
		t.Fatalf("handed over again: %+v", deletes)
	}
}

// TestDeleteHandedOverPastAnExpiredEntry: a delete followed by an entry
// that expired is handed over, as the entry is not.
func TestDeleteHandedOverPastAnExpiredEntry(t *testing.T) {
	c, now := newTestStore(Config{Partitions: 4})
	c.Delete(0, "k")
	c.SetTTL(0, "k", []byte("brief"), time.Second)
	now.Add(int64(time.Second))
	entries, deletes := c.TakePartition(0)
	if len(entries) != 0 || len(deletes) != 1 || deletes[0].Key != "k" {
		t.Fatalf("took %+v and %+v; want k's delete alone", entries, deletes)
	}
}

// TestLoseHandsDeletesOver: the engine hands a lost partition's deletes
// over, with its entries or alone.
func TestLoseHandsDeletesOver(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var entries []Listed
	var deletes []Deleted
	calls := 0
	e := NewEngine(op.Host{Partitions: 4, Stopping: ctx, Logger: hclog.NewNullLogger(), Go: func(f func()) bool { f(); return true }},
		EngineConfig{Name: "users", HandOff: func(l []Listed, d []Deleted) {
			calls++
			entries, deletes = append(entries, l...), append(deletes, d...)
		}})
	e.Apply(&op.Op{Kind: op.Delete, Key: "gone"}, 1, nil)
	e.Lose([]int{1}, false)
	if calls != 1 || len(entries) != 0 || len(deletes) != 1 || deletes[0].Key != "gone" || deletes[0].Partition != 1 {
		t.Fatalf("%d hand-offs of %+v and %+v; want one of gone's delete", calls, entries, deletes)
	}
	e.Lose([]int{1}, false)
	if calls != 1 {
		t.Fatal("a partition with nothing to hand over was handed over")
	}
}

// TestRestoredEntriesReplacedHereStopYielding: an entry read from the
// dump and then set, loaded or refreshed here is this node's own: neither
// a newer entry nor a later delete handed over replaces it.
func TestRestoredEntriesReplacedHereStopYielding(t *testing.T) {
	for name, replace := range map[string][]step{
		"set":       {{op: "set", key: "k", value: "here"}},
		"load":      {{op: "finish", key: "k", value: "here"}},
		"refreshed": {{op: "hold", key: "k"}, {op: "refreshed", key: "k", value: "here"}},
	} {
		t.Run(name, func(t *testing.T) {
			c, now := newTestStore(Config{Partitions: 4})
			runSteps(t, c, now, append([]step{{op: "restore", key: "k", value: "dump", d: time.Hour, wantOK: true}}, replace...))
			runSteps(t, c, now, []step{
				{op: "adopt", key: "k", value: "handed", d: -time.Second},
				{op: "get", key: "k", want: "here"},
			})
			if c.AdoptDelete(0, "k", time.Unix(0, now.Load())) {
				t.Fatal("a delete handed over removed the entry stored here")
			}
			runSteps(t, c, now, []step{{op: "get", key: "k", want: "here"}})
		})
	}
}

// TestRestoredEntriesYieldOnlyToNewer: an entry read from the dump keeps
// its place against an older entry or an earlier delete handed over, and
// yields to none DeleteMemory after the restore, swept or not.
func TestRestoredEntriesYieldOnlyToNewer(t *testing.T) {
	c, now := newTestStore(Config{Partitions: 4})
	runSteps(t, c, now, []step{
		{op: "restore", key: "a", value: "dump", d: 10 * time.Second, wantOK: true},
		{op: "restore", key: "b", value: "dump", d: time.Hour, wantOK: true},
		{op: "adopt", key: "a", value: "older", d: time.Hour},
	})
	if c.AdoptDelete(0, "a", time.Unix(0, now.Load()-int64(20*time.Second))) {
		t.Fatal("a delete from before the dump's entry removed it")
	}
	runSteps(t, c, now, []step{
		{op: "get", key: "a", want: "dump"},
		{op: "advance", d: DeleteMemory},
		{op: "adopt", key: "b", value: "newer", d: time.Second},
		{op: "get", key: "b", want: "dump"},
	})
}

// TestHandedDeletesAreRememberedFromTheirArrival: a delete handed over is
// remembered DeleteMemory from when it arrived, not from when it was made.
func TestHandedDeletesAreRememberedFromTheirArrival(t *testing.T) {
	c, now := newTestStore(Config{Partitions: 4})
	c.AdoptDelete(0, "k", time.Unix(0, now.Load()-int64(DeleteMemory/2)))
	now.Add(int64(DeleteMemory/2) + 1)
	c.Sweep()
	if n := c.deletes.Load(); n != 1 {
		t.Fatalf("%d deletes remembered past DeleteMemory from the delete, want 1 (from its arrival)", n)
	}
	runSteps(t, c, now, []step{{op: "adopt", key: "k", value: "older"}})
	now.Add(int64(DeleteMemory / 2))
	c.Sweep()
	if n := c.deletes.Load(); n != 0 {
		t.Fatalf("%d deletes remembered past DeleteMemory from its arrival, want 0", n)
	}
}
