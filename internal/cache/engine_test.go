package cache

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/loaders"
)

func testEngine(t *testing.T, dump string, handOff func([]Listed)) *Engine {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := op.Host{Partitions: 4, Stopping: ctx, Logger: hclog.NewNullLogger(), Go: func(f func()) bool { f(); return true }}
	var hand func([]Listed, []Deleted)
	if handOff != nil {
		hand = func(l []Listed, _ []Deleted) { handOff(l) }
	}
	return NewEngine(h, EngineConfig{
		Name: "users", DumpPath: dump, DumpInterval: time.Minute, HandOff: hand,
		Load: LoadConfig{Timeout: time.Second, Loader: loaders.LoaderFunc(func(_ context.Context, key string) (loaders.Result, error) {
			return loaders.Result{Value: []byte("v:" + key)}, nil
		})},
	})
}

// TestLostPartitionsAreHandedOver: the entries of partitions a node loses
// go to HandOff, with their age, and leave this node.
func TestLostPartitionsAreHandedOver(t *testing.T) {
	var got []Listed
	e := testEngine(t, "", func(l []Listed) { got = append(got, l...) })
	for i := range 8 {
		e.Apply(&op.Op{Kind: op.Set, Key: fmt.Sprint(i), Values: [][]byte{[]byte("x")}}, i%4, nil)
	}
	e.Lose([]int{1, 3}, false)
	if len(got) != 4 || e.state.Len() != 4 {
		t.Fatalf("handed over %d entries, %d stay; want 4 and 4", len(got), e.state.Len())
	}
	for _, l := range got {
		if l.Partition != 1 && l.Partition != 3 || l.Entry.Loaded().IsZero() {
			t.Fatalf("handed over %+v", l)
		}
	}
}

// TestAdoptKeepsNewerEntries: an entry handed over is taken only where the
// key has no entry (nor a load in flight) of its own.
func TestAdoptKeepsNewerEntries(t *testing.T) {
	e := testEngine(t, "", nil)
	e.Apply(&op.Op{Kind: op.Set, Key: "mine", Values: [][]byte{[]byte("new")}}, 0, nil)
	for _, k := range []string{"mine", "theirs"} {
		e.Apply(&op.Op{Kind: op.Adopt, Key: k, Values: [][]byte{[]byte("old")}, Delta: time.Now().Add(-time.Minute).UnixNano()}, 0, nil)
	}
	if v, _ := e.state.Get(0, "mine"); string(v) != "new" {
		t.Fatalf("adopt overwrote a newer entry: %s", v)
	}
	if v, _ := e.state.Get(0, "theirs"); string(v) != "old" {
		t.Fatalf("adopt did not take an absent key: %q", v)
	}
}

// TestLeaveDumpsBeforeHandingOver: PrepareLeave writes the dump while the
// node still holds its entries; the hand-off that follows and Close do not
// empty it.
func TestLeaveDumpsBeforeHandingOver(t *testing.T) {
	for _, prepare := range []bool{true, false} {
		t.Run(fmt.Sprint("prepare ", prepare), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "users.dump")
			e := testEngine(t, path, func([]Listed) {})
			for i := range 10 {
				e.Apply(&op.Op{Kind: op.Set, Key: fmt.Sprint(i), Values: [][]byte{[]byte("x")}}, i%4, nil)
			}
			if prepare {
				if err := e.PrepareLeave(); err != nil {
					t.Fatal(err)
				}
			}
			e.Lose([]int{0, 1, 2, 3}, false)
			if err := e.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			n := 0
			if _, err := ReadDump(path, 1<<20, nil, func(string, []byte, time.Time, time.Time) { n++ }); err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 10, false: 0}[prepare]; n != want {
				t.Fatalf("the dump holds %d entries, want %d", n, want)
			}
		})
	}
}

// TestHandOffCarriesTheTimeLeft: an entry set with a TTL is handed over
// with the time it has left, and adopted with it.
func TestHandOffCarriesTheTimeLeft(t *testing.T) {
	var got []Listed
	e := testEngine(t, "", func(l []Listed) { got = append(got, l...) })
	e.Apply(&op.Op{Kind: op.Set, Key: "brief", Values: [][]byte{[]byte("x")}, TTL: time.Hour}, 1, nil)
	e.Apply(&op.Op{Kind: op.Set, Key: "plain", Values: [][]byte{[]byte("y")}}, 1, nil)
	e.Lose([]int{1}, false)
	ttls := map[string]time.Duration{}
	for _, l := range got {
		ttls[l.Key] = l.TTL
	}
	if ttl := ttls["brief"]; ttl <= 59*time.Minute || ttl > time.Hour || ttls["plain"] != 0 || len(ttls) != 2 {
		t.Fatalf("handed over with %v left; want brief with at most an hour (and nearly all of it), plain with none", ttls)
	}

	next := testEngine(t, "", nil)
	for _, l := range got {
		next.Apply(&op.Op{Kind: op.Adopt, Key: l.Key, Values: [][]byte{l.Entry.Value()}, Delta: l.Entry.Loaded().UnixNano(), TTL: l.TTL}, 1, nil)
	}
	exp := map[string]time.Time{}
	for _, l := range next.state.List() {
		exp[l.Key] = l.Entry.Expires()
	}
	if left := time.Until(exp["brief"]); left <= 59*time.Minute || left > time.Hour || !exp["plain"].IsZero() {
		t.Fatalf("adopted entries expire at %v", exp)
	}
}

// TestDumpKeepsTheExpiry: entries set with a TTL come back from the dump
// at the next start with the same expiry; the others with none.
func TestDumpKeepsTheExpiry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.dump")
	e := testEngine(t, path, nil)
	e.Apply(&op.Op{Kind: op.Set, Key: "brief", Values: [][]byte{[]byte("x")}, TTL: time.Hour}, 2, nil)
	e.Apply(&op.Op{Kind: op.Set, Key: "plain", Values: [][]byte{[]byte("y")}}, 3, nil)
	want := map[string]time.Time{}
	for _, l := range e.state.List() {
		want[l.Key] = l.Entry.Expires()
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	restarted := testEngine(t, path, nil)
	got := map[string]time.Time{}
	for _, l := range restarted.state.List() {
		got[l.Key] = l.Entry.Expires()
	}
	if len(got) != 2 || !got["brief"].Equal(want["brief"]) || want["brief"].IsZero() || !got["plain"].IsZero() {
		t.Fatalf("restarted with expiries %v, want %v", got, want)
	}
}

// TestApplyRefusesANegativeTTL: a negative TTL is an invalid value.
func TestApplyRefusesANegativeTTL(t *testing.T) {
	e := testEngine(t, "", nil)
	for _, k := range []op.Kind{op.Set, op.Adopt} {
		r, done := e.Apply(&op.Op{Kind: k, Key: "a", Values: [][]byte{[]byte("x")}, TTL: -time.Second}, 0, nil)
		if !done || !errors.Is(r.Err, errs.ErrInvalidValue) {
			t.Fatalf("%v with a negative ttl: %+v, %v", k, r, done)
		}
	}
	if n := e.state.Len(); n != 0 {
		t.Fatalf("the store holds %d entries", n)
	}
}
