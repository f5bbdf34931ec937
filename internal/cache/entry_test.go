package cache

import (
	"fmt"
	"slices"
	"testing"
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
