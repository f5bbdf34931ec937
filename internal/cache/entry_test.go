package cache

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestValuesOfEverySize: a value comes back as it was set, under its key,
// whether the entry holds key and value in its own allocation or not,
// empty and nil included; appending to what a read returned changes
// nothing held.
func TestValuesOfEverySize(t *testing.T) {
	c, _ := newTestStore(Config{Partitions: 1})
	small, large := len(entry64{}.b), len(entry128{}.b) // room for key and value
	sizes := []int{0, 1, small - 2, small - 1, small, large - 1, large, 4096}
	for _, n := range sizes {
		v := make([]byte, n)
		for i := range v {
			v[i] = byte('a' + i%26)
		}
		key := fmt.Sprint(n)
		c.Set(0, key, slices.Clone(v))
		got, ok := c.Get(0, key)
		if !ok || string(got) != string(v) {
			t.Fatalf("%d bytes: read %q (%v), want %q", n, got, ok, v)
		}
		_ = append(got, "appended"...)
		if again, _ := c.Get(0, key); string(again) != string(v) {
			t.Fatalf("%d bytes: after an append to a read, the entry holds %q", n, again)
		}
	}
	c.Set(0, "nil", nil)
	if got, ok := c.Get(0, "nil"); !ok || got != nil {
		t.Fatalf("a nil value read back as %q (%v)", got, ok)
	}
	c.Set(0, "0", []byte("replaced")) // a new entry under a held key
	var keys []string
	for _, l := range c.List() {
		keys = append(keys, l.Key)
		if got, _ := c.Get(0, l.Key); string(got) != string(l.Entry.Value()) {
			t.Fatalf("List gave %q for %q, Get %q", l.Entry.Value(), l.Key, got)
		}
	}
	want := []string{"nil"}
	for _, n := range sizes {
		want = append(want, fmt.Sprint(n))
	}
	slices.Sort(keys)
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Fatalf("List gave the keys %q, want %q", keys, want)
	}
}

func TestEntryAccessors(t *testing.T) {
	c, now := newTestStore(Config{Partitions: 1, TTL: time.Hour}) // a store that reads access times
	c.Set(0, "a", []byte("1"))
	l := c.List()
	if len(l) != 1 {
		t.Fatalf("List = %v", l)
	}
	e := l[0].Entry
	if string(e.Value()) != "1" || !e.Loaded().Equal(base) {
		t.Fatalf("entry holds %q loaded at %v, want %q at %v", e.Value(), e.Loaded(), "1", base)
	}
	now.Add(int64(time.Minute))
	c.Get(0, "a")
	if !e.Loaded().Equal(base) {
		t.Fatalf("a read changed the load time to %v", e.Loaded())
	}
	if got := e.access.Load(); got != now.Load() {
		t.Fatalf("access = %v, want the read's time %v", time.Unix(0, got), time.Unix(0, now.Load()))
	}
	now.Add(int64(time.Minute))
	c.Refreshed(0, "a", e, []byte("2"))
	e2 := c.List()[0].Entry
	if string(e2.Value()) != "2" || !e2.Loaded().Equal(time.Unix(0, now.Load())) || e2.access.Load() != e.access.Load() {
		t.Fatalf("refreshed entry %q loaded %v read %v; want %q loaded now, read when e was", e2.Value(), e2.Loaded(), e2.access.Load(), "2")
	}
	if !e2.Expires().IsZero() {
		t.Fatalf("an entry set without a ttl expires at %v", e2.Expires())
	}
	c.SetTTL(0, "b", []byte("3"), time.Minute)
	for _, l := range c.List() {
		if l.Key == "b" && !l.Entry.Expires().Equal(time.Unix(0, now.Load()).Add(time.Minute)) {
			t.Fatalf("an entry set with a one-minute ttl now expires at %v, want a minute from %v", l.Entry.Expires(), time.Unix(0, now.Load()))
		}
	}

	// Without a TTL or MaxEntries nothing reads access times: a read keeps
	// none, and still honours an entry's own expiry.
	c, now = newTestStore(Config{Partitions: 1})
	c.Set(0, "a", []byte("1"))
	c.SetTTL(0, "b", []byte("2"), time.Minute)
	now.Add(int64(time.Minute))
	if v, ok := c.Get(0, "a"); !ok || string(v) != "1" {
		t.Fatalf("Get(a) = %q, %v; want 1", v, ok)
	}
	if got := c.List()[0].Entry.access.Load(); got != base.UnixNano() {
		t.Fatalf("access = %v after a read in a store that reads none, want the set's time %v", time.Unix(0, got), base)
	}
	if v, ok := c.Get(0, "b"); ok {
		t.Fatalf("Get(b) = %q at its expiry, want a miss", v)
	}
}
