package cache

import (
	"errors"
	"fmt"
	"maps"
	"sync/atomic"
	"testing"
	"time"
)

// base is the fake clock's start.
var base = time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)

// newTestStore returns a store whose clock moves only when the test
// advances it.
func newTestStore(cfg Config) (*Store, *atomic.Int64) {
	c := New(cfg)
	var now atomic.Int64
	now.Store(base.UnixNano())
	c.now = now.Load
	return c, &now
}

// step is one call on a Store and what it must give. Steps run in order on
// one store; see runSteps for what each op does.
type step struct {
	op    string
	p     int
	key   string
	value string
	d     time.Duration // advance: how far; restore, adopt: the entry's age
	ttl   time.Duration // setttl, adopt: the TTL; restore: expires ttl from now (0: never)

	failed   bool // finish: the load failed
	notFound bool // finish: the loader did not find the key
	noSave   bool // finish: SkipSave

	want      string // get, start: the value, "" for a miss
	wantFirst bool   // start
	wantOK    bool   // delete, restore, adopt
	wantN     int    // drop: entries dropped; len: Len(); finish: waiters called
}

func runSteps(t *testing.T, c *Store, now *atomic.Int64, steps []step) {
	t.Helper()
	held := map[string]*Entry{} // entries taken by "hold", for "refreshed"
	var called []Outcome        // what the waiters of "start" got
	for i, s := range steps {
		where := fmt.Sprintf("step %d (%s p%d %q)", i, s.op, s.p, s.key)
		switch s.op {
		case "set":
			c.Set(s.p, s.key, []byte(s.value))
		case "setttl":
			c.SetTTL(s.p, s.key, []byte(s.value), s.ttl)
		case "adopt":
			loaded := time.Unix(0, now.Load()-int64(s.d))
			if ok := c.Adopt(s.p, s.key, []byte(s.value), loaded, s.ttl); ok != s.wantOK {
				t.Fatalf("%s: got %v, want %v", where, ok, s.wantOK)
			}
		case "get":
			v, ok := c.Get(s.p, s.key)
			if string(v) != s.want || ok != (s.want != "") {
				t.Fatalf("%s: got %q, %v; want %q", where, v, ok, s.want)
			}
		case "delete":
			if ok := c.Delete(s.p, s.key); ok != s.wantOK {
				t.Fatalf("%s: got %v, want %v", where, ok, s.wantOK)
			}
		case "start":
			v, hit, first := c.StartLoad(s.p, s.key, func(out Outcome) { called = append(called, out) })
			if string(v) != s.want || hit != (s.want != "") || first != s.wantFirst {
				t.Fatalf("%s: got %q, hit %v, first %v; want %q, first %v", where, v, hit, first, s.want, s.wantFirst)
			}
		case "finish":
			out := Outcome{Value: []byte(s.value), Found: true}
			switch {
			case s.failed:
				out = Outcome{Err: ErrLoadFailed}
			case s.notFound:
				out = Outcome{}
			}
			called = nil
			c.FinishLoad(s.p, s.key, out, !s.noSave)
			if len(called) != s.wantN {
				t.Fatalf("%s: %d waiters called, want %d", where, len(called), s.wantN)
			}
			for _, got := range called {
				if string(got.Value) != string(out.Value) || got.Found != out.Found || got.Err != out.Err {
					t.Fatalf("%s: a waiter got %+v, want %+v", where, got, out)
				}
			}
		case "drop":
			if entries, _ := c.TakePartition(s.p); len(entries) != s.wantN {
				t.Fatalf("%s: dropped %d, want %d", where, len(entries), s.wantN)
			}
		case "sweep":
			c.Sweep()
		case "advance":
			now.Add(int64(s.d))
		case "restore":
			loaded := time.Unix(0, now.Load()-int64(s.d))
			var expires time.Time
			if s.ttl != 0 {
				expires = time.Unix(0, now.Load()+int64(s.ttl))
			}
			if ok := c.Restore(s.p, s.key, []byte(s.value), loaded, expires); ok != s.wantOK {
				t.Fatalf("%s: got %v, want %v", where, ok, s.wantOK)
			}
		case "hold":
			held[s.key] = nil
			for _, l := range c.List() {
				if l.Partition == s.p && l.Key == s.key {
					held[s.key] = l.Entry
				}
			}
		case "refreshed":
			var v []byte
			if s.value != "" {
				v = []byte(s.value)
			}
			c.Refreshed(s.p, s.key, held[s.key], v)
		case "len":
			if n := c.Len(); n != s.wantN {
				t.Fatalf("%s: Len = %d, want %d", where, n, s.wantN)
			}
			if n := len(c.List()); n != s.wantN {
				t.Fatalf("%s: List has %d entries, want %d", where, n, s.wantN)
			}
		default:
			t.Fatalf("%s: unknown op", where)
		}
	}
}

func TestStore(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{"miss then set then hit", Config{Partitions: 4}, []step{
			{op: "get", key: "a"},
			{op: "set", key: "a", value: "1"},
			{op: "get", key: "a", want: "1"},
			{op: "len", wantN: 1},
		}},
		{"set replaces", Config{Partitions: 4}, []step{
			{op: "set", key: "a", value: "1"},
			{op: "set", key: "a", value: "2"},
			{op: "get", key: "a", want: "2"},
			{op: "len", wantN: 1},
		}},
		{"delete", Config{Partitions: 4}, []step{
			{op: "set", key: "a", value: "1"},
			{op: "delete", key: "a", wantOK: true},
			{op: "delete", key: "a"},
			{op: "get", key: "a"},
			{op: "len", wantN: 0},
		}},
		{"partitions are apart", Config{Partitions: 4}, []step{
			{op: "set", p: 1, key: "a", value: "1"},
			{op: "get", p: 2, key: "a"},
			{op: "delete", p: 2, key: "a"},
			{op: "get", p: 1, key: "a", want: "1"},
		}},
		{"load stores its value for every waiter", Config{Partitions: 4}, []step{
			{op: "start", key: "a", wantFirst: true},
			{op: "start", key: "a"},
			{op: "start", key: "a"},
			{op: "get", key: "a"},
			{op: "finish", key: "a", value: "v", wantN: 3},
			{op: "get", key: "a", want: "v"},
			{op: "start", key: "a", want: "v"},
			{op: "len", wantN: 1},
		}},
		{"loads of keys are apart", Config{Partitions: 4}, []step{
			{op: "start", key: "a", wantFirst: true},
			{op: "start", key: "b", wantFirst: true},
			{op: "start", p: 1, key: "a", wantFirst: true},
			{op: "finish", key: "b", value: "vb", wantN: 1},
			{op: "finish", key: "a", value: "va", wantN: 1},
			{op: "finish", p: 1, key: "a", value: "va1", wantN: 1},
			{op: "get", p: 1, key: "a", want: "va1"},
			{op: "len", wantN: 3},
		}},
		{"set during a load is not overwritten by the load's older value", Config{Partitions: 4}, []step{
			{op: "start", key: "a", wantFirst: true},
			{op: "set", key: "a", value: "new"},
			{op: "finish", key: "a", value: "old", wantN: 1},
			{op: "get", key: "a", want: "new"},
		}},
		{"delete during a load is not undone by the load", Config{Partitions: 4}, []step{
			{op: "set", key: "a", value: "1"},
			{op: "advance", d: time.Second},
			{op: "delete", key: "b"},
			{op: "start", key: "b", wantFirst: true},
			{op: "delete", key: "b"},
			{op: "finish", key: "b", value: "old", wantN: 1},
			{op: "get", key: "b"},
			{op: "len", wantN: 1},
		}},
		{"the next load after a stale one stores", Config{Partitions: 4}, []step{
			{op: "start", key: "a", wantFirst: true},
			{op: "delete", key: "a"},
			{op: "finish", key: "a", value: "old", wantN: 1},
			{op: "start", key: "a", wantFirst: true},
			{op: "finish", key: "a", value: "v", wantN: 1},
			{op: "get", key: "a", want: "v"},
		}},
		{"failed load is not cached", Config{Partitions: 4}, []step{
			{op: "start", key: "a", wantFirst: true},
			{op: "start", key: "a"},
			{op: "finish", key: "a", failed: true, wantN: 2},
			{op: "get", key: "a"},
			{op: "start", key: "a", wantFirst: true},
		}},
		{"not found is not cached", Config{Partitions: 4}, []step{
			{op: "start", key: "a", wantFirst: true},
			{op: "finish", key: "a", notFound: true, wantN: 1},
			{op: "len", wantN: 0},
		}},
		{"skip save answers without caching", Config{Partitions: 4}, []step{
			{op: "start", key: "a", wantFirst: true},
			{op: "finish", key: "a", value: "v", noSave: true, wantN: 1},
			{op: "get", key: "a"},
		}},
		{"finish without a load in flight stores", Config{Partitions: 4}, []step{
			{op: "finish", key: "a", value: "v"},
			{op: "get", key: "a", want: "v"},
		}},
		{"drop partition drops its entries and makes its loads stale", Config{Partitions: 4}, []step{
			{op: "set", p: 1, key: "a", value: "1"},
			{op: "set", p: 1, key: "b", value: "2"},
			{op: "set", p: 2, key: "c", value: "3"},
			{op: "start", p: 1, key: "x", wantFirst: true},
			{op: "start", p: 2, key: "y", wantFirst: true},
			{op: "drop", p: 1, wantN: 2},
			{op: "len", wantN: 1},
			{op: "finish", p: 1, key: "x", value: "old", wantN: 1},
			{op: "finish", p: 2, key: "y", value: "vy", wantN: 1},
			{op: "get", p: 1, key: "a"},
			{op: "get", p: 1, key: "x"},
			{op: "get", p: 2, key: "c", want: "3"},
			{op: "get", p: 2, key: "y", want: "vy"},
			{op: "drop", p: 1, wantN: 0},
			{op: "set", p: 1, key: "a", value: "again"},
			{op: "get", p: 1, key: "a", want: "again"},
			{op: "len", wantN: 3},
		}},
		{"ttl expires an unread entry on get", Config{Partitions: 4, TTL: time.Minute}, []step{
			{op: "set", key: "a", value: "1"},
			{op: "advance", d: 59 * time.Second},
			{op: "get", key: "a", want: "1"}, // a read restarts the TTL
			{op: "advance", d: 59 * time.Second},
			{op: "get", key: "a", want: "1"},
			{op: "advance", d: 61 * time.Second},
			{op: "len", wantN: 1}, // held until looked up or swept
			{op: "get", key: "a"},
			{op: "len", wantN: 0},
		}},
		{"ttl expires an entry on start load", Config{Partitions: 4, TTL: time.Minute}, []step{
			{op: "set", key: "a", value: "1"},
			{op: "advance", d: 61 * time.Second},
			{op: "start", key: "a", wantFirst: true},
			{op: "len", wantN: 0},
			{op: "finish", key: "a", value: "2", wantN: 1},
			{op: "get", key: "a", want: "2"},
		}},
		{"sweep drops expired entries only", Config{Partitions: 4, TTL: time.Minute}, []step{
			{op: "set", key: "a", value: "1"},
			{op: "set", p: 3, key: "c", value: "3"},
			{op: "advance", d: 30 * time.Second},
			{op: "set", key: "b", value: "2"},
			{op: "get", p: 3, key: "c", want: "3"},
			{op: "advance", d: 31 * time.Second},
			{op: "sweep"},
			{op: "len", wantN: 2},
			{op: "get", key: "a"},
			{op: "get", key: "b", want: "2"},
		}},
		{"no ttl: nothing expires", Config{Partitions: 4}, []step{
			{op: "set", key: "a", value: "1"},
			{op: "restore", key: "b", value: "2", d: 1000 * time.Hour, wantOK: true},
			{op: "advance", d: 1000 * time.Hour},
			{op: "sweep"},
			{op: "len", wantN: 2},
			{op: "get", key: "a", want: "1"},
		}},
		{"restore keeps the entry's age", Config{Partitions: 4, TTL: time.Hour}, []step{
			{op: "restore", key: "a", value: "1", d: 59 * time.Minute, wantOK: true},
			{op: "restore", key: "b", value: "2", d: time.Minute, wantOK: true},
			{op: "advance", d: 2 * time.Minute},
			{op: "sweep"},
			{op: "get", key: "a"},
			{op: "get", key: "b", want: "2"},
		}},
		{"restore skips an expired entry", Config{Partitions: 4, TTL: time.Hour}, []step{
			{op: "restore", key: "a", value: "1", d: 61 * time.Minute},
			{op: "len", wantN: 0},
			{op: "get", key: "a"},
		}},
		{"refreshed replaces the same entry", Config{Partitions: 4}, []step{
			{op: "set", key: "a", value: "1"},
			{op: "hold", key: "a"},
			{op: "refreshed", key: "a", value: "2"},
			{op: "get", key: "a", want: "2"},
			{op: "refreshed", key: "a", value: "3"}, // held is no longer the entry
			{op: "get", key: "a", want: "2"},
			{op: "len", wantN: 1},
		}},
		{"refreshed keeps a newer set", Config{Partitions: 4}, []step{
			{op: "set", key: "a", value: "1"},
			{op: "hold", key: "a"},
			{op: "set", key: "a", value: "set"},
			{op: "refreshed", key: "a", value: "reloaded"},
			{op: "get", key: "a", want: "set"},
			{op: "refreshed", key: "a"},
			{op: "get", key: "a", want: "set"},
		}},
		{"refreshed with nil removes", Config{Partitions: 4}, []step{
			{op: "set", key: "a", value: "1"},
			{op: "hold", key: "a"},
			{op: "refreshed", key: "a"},
			{op: "get", key: "a"},
			{op: "len", wantN: 0},
		}},
		{"refreshed does not undo a delete or drop", Config{Partitions: 4}, []step{
			{op: "set", key: "a", value: "1"},
			{op: "set", p: 1, key: "b", value: "2"},
			{op: "hold", key: "a"},
			{op: "hold", p: 1, key: "b"},
			{op: "delete", key: "a", wantOK: true},
			{op: "drop", p: 1, wantN: 1},
			{op: "refreshed", key: "a", value: "x"},
			{op: "refreshed", p: 1, key: "b", value: "y"},
			{op: "refreshed", key: "a"},
			{op: "len", wantN: 0},
		}},
		{"refreshed without an entry", Config{Partitions: 4}, []step{
			{op: "hold", key: "a"}, // nil: there is none
			{op: "refreshed", key: "a", value: "x"},
			{op: "refreshed", key: "a"},
			{op: "len", wantN: 0},
		}},
		{"refreshed restarts the ttl but keeps the read time", Config{Partitions: 4, TTL: time.Minute}, []step{
			{op: "set", key: "a", value: "1"},
			{op: "hold", key: "a"},
			{op: "advance", d: 50 * time.Second},
			{op: "refreshed", key: "a", value: "2"},
			{op: "advance", d: 50 * time.Second},
			{op: "sweep"},
			{op: "get", key: "a", want: "2"},
		}},
		{"set with a ttl expires it, reads do not extend it", Config{Partitions: 4}, []step{
			{op: "setttl", key: "a", value: "1", ttl: 10 * time.Second},
			{op: "advance", d: 5 * time.Second},
			{op: "get", key: "a", want: "1"},
			{op: "advance", d: 4 * time.Second},
			{op: "start", key: "a", want: "1"},
			{op: "get", key: "a", want: "1"},
			{op: "advance", d: time.Second},
			{op: "get", key: "a"},
			{op: "len", wantN: 0},
		}},
		{"an expired entry loads again, without expiry", Config{Partitions: 4}, []step{
			{op: "setttl", key: "a", value: "1", ttl: 10 * time.Second},
			{op: "advance", d: 10 * time.Second},
			{op: "start", key: "a", wantFirst: true},
			{op: "len", wantN: 0},
			{op: "finish", key: "a", value: "2", wantN: 1},
			{op: "advance", d: 1000 * time.Hour},
			{op: "get", key: "a", want: "2"},
		}},
		{"a plain set drops the expiry", Config{Partitions: 4}, []step{
			{op: "setttl", key: "a", value: "1", ttl: 10 * time.Second},
			{op: "set", key: "a", value: "2"},
			{op: "advance", d: time.Hour},
			{op: "sweep"},
			{op: "get", key: "a", want: "2"},
		}},
		{"a set with a ttl replaces one without", Config{Partitions: 4}, []step{
			{op: "set", key: "a", value: "1"},
			{op: "setttl", key: "a", value: "2", ttl: time.Minute},
			{op: "len", wantN: 1},
			{op: "advance", d: time.Minute},
			{op: "get", key: "a"},
		}},
		{"a ttl that overflows the clock is no expiry in practice", Config{Partitions: 4}, []step{
			{op: "setttl", key: "a", value: "1", ttl: time.Duration(1<<63 - 1)},
			{op: "advance", d: 1000 * time.Hour},
			{op: "get", key: "a", want: "1"},
		}},
		{"the store ttl still drops an unread entry with a longer expiry", Config{Partitions: 4, TTL: time.Minute}, []step{
			{op: "setttl", key: "a", value: "1", ttl: time.Hour},
			{op: "setttl", key: "b", value: "2", ttl: 100 * time.Second},
			{op: "advance", d: 50 * time.Second},
			{op: "get", key: "b", want: "2"},
			{op: "advance", d: 49 * time.Second},
			{op: "get", key: "b", want: "2"},
			{op: "get", key: "a"}, // unread for 99s
			{op: "advance", d: time.Second},
			{op: "get", key: "b"}, // read 1s ago, but past its expiry
		}},
		{"refreshed keeps the expiry", Config{Partitions: 4}, []step{
			{op: "setttl", key: "a", value: "1", ttl: 10 * time.Second},
			{op: "hold", key: "a"},
			{op: "advance", d: 6 * time.Second},
			{op: "refreshed", key: "a", value: "2"},
			{op: "get", key: "a", want: "2"},
			{op: "advance", d: 4 * time.Second},
			{op: "get", key: "a"},
		}},
		{"sweep drops entries past their expiry without a store ttl", Config{Partitions: 4}, []step{
			{op: "setttl", key: "a", value: "1", ttl: 10 * time.Second},
			{op: "setttl", p: 3, key: "c", value: "3", ttl: 20 * time.Second},
			{op: "set", p: 2, key: "b", value: "2"},
			{op: "advance", d: 10 * time.Second},
			{op: "sweep"},
			{op: "len", wantN: 2},
			{op: "advance", d: 10 * time.Second},
			{op: "sweep"},
			{op: "len", wantN: 1},
			{op: "get", p: 2, key: "b", want: "2"},
		}},
		{"adopt keeps the time left", Config{Partitions: 4}, []step{
			{op: "adopt", key: "a", value: "1", d: time.Minute, ttl: 10 * time.Second, wantOK: true},
			{op: "adopt", key: "b", value: "2", d: time.Minute, wantOK: true},
			{op: "advance", d: 9 * time.Second},
			{op: "get", key: "a", want: "1"},
			{op: "advance", d: time.Second},
			{op: "get", key: "a"},
			{op: "advance", d: 1000 * time.Hour},
			{op: "get", key: "b", want: "2"},
		}},
		{"adopt keeps a newer entry, with or without expiry", Config{Partitions: 4}, []step{
			{op: "setttl", key: "a", value: "mine", ttl: time.Minute},
			{op: "adopt", key: "a", value: "theirs", ttl: time.Hour},
			{op: "advance", d: time.Minute},
			{op: "get", key: "a"},
		}},
		{"restore keeps the expiry", Config{Partitions: 4}, []step{
			{op: "restore", key: "a", value: "1", d: time.Hour, ttl: 10 * time.Second, wantOK: true},
			{op: "restore", key: "b", value: "2", d: time.Hour, ttl: -time.Second},
			{op: "restore", key: "c", value: "3", d: time.Hour, wantOK: true},
			{op: "len", wantN: 2},
			{op: "advance", d: 10 * time.Second},
			{op: "sweep"},
			{op: "len", wantN: 1},
			{op: "get", key: "c", want: "3"},
		}},
		{"eviction drops the least recently read", Config{Partitions: 1021, MaxEntries: 3}, []step{
			{op: "restore", p: 7, key: "a", value: "1", d: 3 * time.Second, wantOK: true},
			{op: "restore", p: 500, key: "b", value: "2", d: 2 * time.Second, wantOK: true},
			{op: "restore", p: 1000, key: "c", value: "3", d: time.Second, wantOK: true},
			{op: "get", p: 7, key: "a", want: "1"}, // now read last
			{op: "set", p: 3, key: "d", value: "4"},
			{op: "len", wantN: 3},
			{op: "get", p: 500, key: "b"},
			{op: "get", p: 7, key: "a", want: "1"},
			{op: "get", p: 1000, key: "c", want: "3"},
			{op: "get", p: 3, key: "d", want: "4"},
		}},
		{"eviction spares the entry just set", Config{Partitions: 1021, MaxEntries: 1}, []step{
			{op: "set", p: 9, key: "a", value: "1"},
			{op: "set", p: 900, key: "b", value: "2"},
			{op: "len", wantN: 1},
			{op: "get", p: 900, key: "b", want: "2"},
		}},
		{"eviction spares the entry just loaded", Config{Partitions: 1021, MaxEntries: 1}, []step{
			{op: "set", p: 900, key: "a", value: "1"},
			{op: "start", p: 9, key: "b", wantFirst: true},
			{op: "finish", p: 9, key: "b", value: "2", wantN: 1},
			{op: "len", wantN: 1},
			{op: "get", p: 9, key: "b", want: "2"},
		}},
		{"eviction spares the entry just restored, however old", Config{Partitions: 1021, MaxEntries: 1}, []step{
			{op: "set", p: 1, key: "a", value: "1"},
			{op: "restore", p: 2, key: "b", value: "2", d: time.Hour, wantOK: true},
			{op: "len", wantN: 1},
			{op: "get", p: 2, key: "b", want: "2"},
		}},
		{"eviction spares only the key just set in its own partition", Config{Partitions: 4, MaxEntries: 1}, []step{
			{op: "set", p: 1, key: "a", value: "1"},
			{op: "set", p: 2, key: "a", value: "2"},
			{op: "len", wantN: 1},
			{op: "get", p: 2, key: "a", want: "2"},
		}},
		{"replacing an entry does not evict", Config{Partitions: 4, MaxEntries: 2}, []step{
			{op: "set", key: "a", value: "1"},
			{op: "set", key: "b", value: "2"},
			{op: "set", key: "a", value: "3"},
			{op: "len", wantN: 2},
			{op: "get", key: "b", want: "2"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			c, now := newTestStore(tt.cfg)
			runSteps(t, c, now, tt.steps)
		})
	}
}

// TestListAndTakeGiveTheTimeLeft: List and TakePartition give each entry's
// time left before its expiry (for hand-offs) and drop those past it.
func TestListAndTakeGiveTheTimeLeft(t *testing.T) {
	c, now := newTestStore(Config{Partitions: 2, TTL: time.Hour})
	c.SetTTL(0, "a", []byte("1"), 10*time.Second)
	c.Set(0, "b", []byte("2"))
	c.SetTTL(0, "c", []byte("3"), 30*time.Second)
	c.SetTTL(1, "d", []byte("4"), 30*time.Second)
	ttls := func(l []Listed) map[string]time.Duration {
		m := map[string]time.Duration{}
		for _, e := range l {
			m[e.Key] = e.TTL
		}
		return m
	}
	now.Add(int64(4 * time.Second))
	if got, want := ttls(c.List()), map[string]time.Duration{"a": 6 * time.Second, "b": 0, "c": 26 * time.Second, "d": 26 * time.Second}; !maps.Equal(got, want) {
		t.Fatalf("List gives %v, want %v", got, want)
	}
	now.Add(int64(6 * time.Second))
	taken, _ := c.TakePartition(0)
	if got, want := ttls(taken), map[string]time.Duration{"b": 0, "c": 20 * time.Second}; !maps.Equal(got, want) {
		t.Fatalf("TakePartition gives %v, want %v", got, want)
	}
	if n := c.Len(); n != 1 {
		t.Fatalf("Len = %d after taking partition 0, want 1", n)
	}
	now.Add(int64(20 * time.Second))
	if l := c.List(); len(l) != 0 || c.Len() != 0 {
		t.Fatalf("List gives %v past every expiry, Len %d", l, c.Len())
	}
}

func TestList(t *testing.T) {
	tests := []struct {
		name string
		set  []Listed // Entry unused
	}{
		{"empty", nil},
		{"one", []Listed{{Partition: 2, Key: "a"}}},
		{"several partitions", []Listed{{Partition: 0, Key: "a"}, {Partition: 0, Key: "b"}, {Partition: 3, Key: "a"}, {Partition: 7, Key: "z"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(Config{Partitions: 8})
			want := map[Listed]string{}
			for _, l := range tt.set {
				v := fmt.Sprintf("%d/%s", l.Partition, l.Key)
				c.Set(l.Partition, l.Key, []byte(v))
				want[l] = v
			}
			got := c.List()
			if len(got) != len(want) {
				t.Fatalf("List has %d entries, want %d", len(got), len(want))
			}
			for _, l := range got {
				v, ok := want[Listed{Partition: l.Partition, Key: l.Key}]
				if !ok || string(l.Entry.Value()) != v {
					t.Fatalf("List has %d/%s = %q, want %q", l.Partition, l.Key, l.Entry.Value(), v)
				}
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"minimal", Config{Partitions: 1}, true},
		{"full", Config{Partitions: 1021, TTL: time.Hour, MaxEntries: 10}, true},
		{"no partitions", Config{}, false},
		{"negative ttl", Config{Partitions: 1, TTL: -1}, false},
		{"negative max entries", Config{Partitions: 1, MaxEntries: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
				t.Fatalf("Validate() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}
