package cache

import (
	"testing"
	"time"

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
