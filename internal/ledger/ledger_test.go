package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/hoard-dev/hoard/client"
	"github.com/hoard-dev/hoard/internal/ledger"
)

func TestIndeterminate(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("owner gone: %w", client.ErrIndeterminate), true},
		{fmt.Errorf("waited: %w", context.DeadlineExceeded), true},
		{client.ErrUnavailable, false},
		{errors.New("refused"), false},
	} {
		if got := ledger.Indeterminate(tc.err); got != tc.want {
			t.Errorf("Indeterminate(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestCompare(t *testing.T) {
	unknown := client.ErrIndeterminate
	refused := client.ErrUnavailable
	l := ledger.New()
	for range 3 {
		l.Incr("a", nil)
	}
	l.Incr("a", unknown)
	l.Incr("b", nil)
	l.Incr("c", refused)
	l.Insert("v1", nil)
	l.Insert("v2", nil)
	l.Insert("v3", unknown)
	l.Insert("v4", refused)
	if l.Acks() != 6 || l.Unknown() != 2 || l.Refused() != 2 {
		t.Fatalf("acks %d, unknown %d, refused %d; want 6, 2, 2", l.Acks(), l.Unknown(), l.Refused())
	}

	exact := l.Compare(map[string]int64{"a": 4, "b": 1}, map[string]int{"v1": 1, "v2": 1, "v3": 1})
	if !exact.OK() || exact.Incrs != 4 || exact.Values != 2 || exact.MaybeIncrs != 1 || exact.MaybeValues != 1 || exact.MaybeApplied != 2 {
		t.Errorf("every op there once, the unknown ones applied: %+v", exact)
	}
	if none := l.Compare(map[string]int64{"a": 3, "b": 1}, map[string]int{"v1": 1, "v2": 1}); !none.OK() || none.MaybeApplied != 0 {
		t.Errorf("every acknowledged op there once, no unknown one: %+v", none)
	}

	bad := l.Compare(map[string]int64{"a": 2, "b": 3, "c": 1}, map[string]int{"v1": 2, "v4": 1, "v5": 1})
	if bad.OK() {
		t.Fatalf("a broken sink passed: %+v", bad)
	}
	if bad.Lost != 1 || bad.Doubled != 3 { // a: one lost; b: two more, c: one refused yet there
		t.Errorf("lost %d, doubled %d; want 1, 3", bad.Lost, bad.Doubled)
	}
	want := []string{"a: sink 2, acknowledged 3 (+1 unknown)", "b: sink 3, acknowledged 1 (+0 unknown)", "c: sink 1, acknowledged 0 (+0 unknown)"}
	if !slices.Equal(bad.OffKeys, want) {
		t.Errorf("off keys %q, want %q", bad.OffKeys, want)
	}
	if !slices.Equal(bad.MissingValues, []string{"v2"}) ||
		!slices.Equal(bad.DoubledValues, []string{"v1"}) || !slices.Equal(bad.StrayValues, []string{"v4", "v5"}) {
		t.Errorf("values: %+v", bad)
	}
	if s := bad.String(); s == "" {
		t.Error("empty report")
	}
}
