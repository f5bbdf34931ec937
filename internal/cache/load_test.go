package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/loaders"
)

// testLogger sends logs to t.Log.
func testLogger(t *testing.T) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.Debug, Output: tWriter{t}})
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

var errDatabase = errors.New("database is down")

func TestLoad(t *testing.T) {
	tests := []struct {
		name     string
		load     loaders.LoaderFunc
		timeout  time.Duration // zero: a minute
		max      int
		stopped  bool // the node's stopping context is done
		want     Outcome
		wantErr  []error // all must match with errors.Is
		wantXtra map[string][]byte
	}{
		{
			name: "found",
			load: func(context.Context, string) (loaders.Result, error) {
				return loaders.Result{Value: []byte("v")}, nil
			},
			want: Outcome{Value: []byte("v"), Found: true},
		},
		{
			name: "found with extra entries",
			load: func(context.Context, string) (loaders.Result, error) {
				return loaders.Result{Value: []byte("v"), Extra: map[string][]byte{"x": []byte("1")}}, nil
			},
			want:     Outcome{Value: []byte("v"), Found: true},
			wantXtra: map[string][]byte{"x": []byte("1")},
		},
		{
			name: "found an empty value",
			load: func(context.Context, string) (loaders.Result, error) {
				return loaders.Result{}, nil
			},
			want: Outcome{Found: true},
		},
		{
			name: "not found",
			load: func(_ context.Context, key string) (loaders.Result, error) {
				return loaders.Result{}, loaders.ErrNotFound
			},
		},
		{
			name: "not found wrapped, extra dropped",
			load: func(_ context.Context, key string) (loaders.Result, error) {
				return loaders.Result{Extra: map[string][]byte{"x": nil}}, fmt.Errorf("user %s: %w", key, loaders.ErrNotFound)
			},
		},
		{
			name: "error is wrapped in ErrLoadFailed",
			load: func(context.Context, string) (loaders.Result, error) {
				return loaders.Result{Value: []byte("partial")}, errDatabase
			},
			wantErr: []error{ErrLoadFailed, errDatabase},
		},
		{
			name: "panic is recovered",
			load: func(context.Context, string) (loaders.Result, error) {
				panic("boom")
			},
			wantErr: []error{ErrLoadFailed},
		},
		{
			name: "value over MaxValueBytes is refused",
			load: func(context.Context, string) (loaders.Result, error) {
				return loaders.Result{Value: make([]byte, 11), Extra: map[string][]byte{"x": nil}}, nil
			},
			max:     10,
			wantErr: []error{ErrLoadFailed},
		},
		{
			name: "value of MaxValueBytes is taken",
			load: func(context.Context, string) (loaders.Result, error) {
				return loaders.Result{Value: bytes.Repeat([]byte("a"), 10)}, nil
			},
			max:  10,
			want: Outcome{Value: bytes.Repeat([]byte("a"), 10), Found: true},
		},
		{
			name: "timeout",
			load: func(ctx context.Context, _ string) (loaders.Result, error) {
				<-ctx.Done()
				return loaders.Result{}, ctx.Err()
			},
			timeout: 5 * time.Millisecond,
			wantErr: []error{ErrLoadFailed, context.DeadlineExceeded},
		},
		{
			name: "interrupted when the node is stopping",
			load: func(ctx context.Context, _ string) (loaders.Result, error) {
				return loaders.Result{}, errDatabase
			},
			stopped: true,
			wantErr: []error{ErrInterrupted, errDatabase},
		},
		{
			name: "not found while stopping is still not found",
			load: func(ctx context.Context, _ string) (loaders.Result, error) {
				return loaders.Result{}, loaders.ErrNotFound
			},
			stopped: true,
		},
		{
			name: "found while stopping is still found",
			load: func(ctx context.Context, _ string) (loaders.Result, error) {
				return loaders.Result{Value: []byte("v")}, nil
			},
			stopped: true,
			want:    Outcome{Value: []byte("v"), Found: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stopping, stop := context.WithCancel(context.Background())
			defer stop()
			if tt.stopped {
				stop()
			}
			timeout := tt.timeout
			if timeout == 0 {
				timeout = time.Minute
			}
			lc := LoadConfig{Loader: tt.load, Timeout: timeout, MaxValueBytes: tt.max, Logger: testLogger(t)}
			out, extra := Load(context.Background(), stopping, lc, "k")
			for _, want := range tt.wantErr {
				if !errors.Is(out.Err, want) {
					t.Fatalf("Err = %v, want it to match %v", out.Err, want)
				}
			}
			if tt.wantErr == nil && out.Err != nil {
				t.Fatalf("Err = %v", out.Err)
			}
			if tt.wantErr != nil && (out.Found || out.Value != nil || extra != nil) {
				t.Fatalf("a failed load gave %+v and extra %v", out, extra)
			}
			if !bytes.Equal(out.Value, tt.want.Value) || out.Found != tt.want.Found {
				t.Fatalf("got %+v, want %+v", out, tt.want)
			}
			if !maps.EqualFunc(extra, tt.wantXtra, bytes.Equal) {
				t.Fatalf("extra = %v, want %v", extra, tt.wantXtra)
			}
		})
	}
}

func TestLoadPassesTheKeyAndADeadline(t *testing.T) {
	var gotKey string
	var gotDeadline bool
	l := loaders.LoaderFunc(func(ctx context.Context, key string) (loaders.Result, error) {
		gotKey = key
		_, gotDeadline = ctx.Deadline()
		return loaders.Result{}, loaders.ErrNotFound
	})
	Load(context.Background(), context.Background(), LoadConfig{Loader: l, Timeout: time.Minute}, "user:1")
	if gotKey != "user:1" || !gotDeadline {
		t.Fatalf("loader called with key %q, deadline %v", gotKey, gotDeadline)
	}
}

// reload is what a refresh's load gives for a key.
type reload struct {
	value    string
	notFound bool
	failed   bool
	extra    map[string][]byte
	set      string // Set the key to this during its reload
	del      bool   // Delete the key during its reload
}

func TestRefresh(t *testing.T) {
	tests := []struct {
		name       string
		entries    map[string]string // partition 0
		reloads    map[string]reload
		want       map[string]string // after
		wantFailed int
		wantExtra  map[string][]byte // every extra entry handed to extra
	}{
		{
			name: "empty store",
		},
		{
			name:    "reloads every entry",
			entries: map[string]string{"a": "1", "b": "2"},
			reloads: map[string]reload{"a": {value: "1'"}, "b": {value: "2'"}},
			want:    map[string]string{"a": "1'", "b": "2'"},
		},
		{
			name:       "failed reload keeps the old value",
			entries:    map[string]string{"a": "1", "b": "2"},
			reloads:    map[string]reload{"a": {failed: true}, "b": {value: "2'"}},
			want:       map[string]string{"a": "1", "b": "2'"},
			wantFailed: 1,
		},
		{
			name:    "not found drops the entry",
			entries: map[string]string{"a": "1", "b": "2"},
			reloads: map[string]reload{"a": {notFound: true}, "b": {value: "2'"}},
			want:    map[string]string{"b": "2'"},
		},
		{
			name:    "set during the reload wins",
			entries: map[string]string{"a": "1"},
			reloads: map[string]reload{"a": {value: "reloaded", set: "set"}},
			want:    map[string]string{"a": "set"},
		},
		{
			name:    "set during a reload that finds nothing wins",
			entries: map[string]string{"a": "1"},
			reloads: map[string]reload{"a": {notFound: true, set: "set"}},
			want:    map[string]string{"a": "set"},
		},
		{
			name:    "delete during the reload wins",
			entries: map[string]string{"a": "1"},
			reloads: map[string]reload{"a": {value: "reloaded", del: true}},
			want:    map[string]string{},
		},
		{
			name:       "extra entries are handed on",
			entries:    map[string]string{"a": "1", "b": "2", "c": "3"},
			reloads:    map[string]reload{"a": {value: "1'", extra: map[string][]byte{"x": []byte("x")}}, "b": {value: "2'", extra: map[string][]byte{"y": []byte("y")}}, "c": {failed: true, extra: map[string][]byte{"z": nil}}},
			want:       map[string]string{"a": "1'", "b": "2'", "c": "3"},
			wantFailed: 1,
			wantExtra:  map[string][]byte{"x": []byte("x"), "y": []byte("y")},
		},
		{
			name:       "many entries, some failing",
			entries:    manyEntries(50),
			reloads:    manyReloads(50),
			want:       manyWant(50),
			wantFailed: 10,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(Config{Partitions: 4})
			for k, v := range tt.entries {
				c.Set(0, k, []byte(v))
			}
			var inFlight, most atomic.Int64
			load := func(ctx context.Context, key string) (Outcome, map[string][]byte) {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				r := tt.reloads[key]
				if r.set != "" {
					c.Set(0, key, []byte(r.set))
				}
				if r.del {
					c.Delete(0, key)
				}
				switch {
				case r.failed:
					return Outcome{Err: ErrLoadFailed}, r.extra
				case r.notFound:
					return Outcome{}, r.extra
				}
				return Outcome{Value: []byte(r.value), Found: true}, r.extra
			}
			var mu sync.Mutex // guards gotExtra
			gotExtra := map[string][]byte{}
			failed, total := c.Refresh(context.Background(), load, func(m map[string][]byte) {
				mu.Lock()
				defer mu.Unlock()
				maps.Copy(gotExtra, m)
			})
			if failed != tt.wantFailed || total != len(tt.entries) {
				t.Fatalf("Refresh = %d failed of %d, want %d of %d", failed, total, tt.wantFailed, len(tt.entries))
			}
			if m := most.Load(); m > refreshConcurrency {
				t.Fatalf("%d reloads at once, over %d", m, refreshConcurrency)
			}
			got := map[string]string{}
			for _, l := range c.List() {
				got[l.Key] = string(l.Entry.Value())
			}
			if tt.want == nil {
				tt.want = map[string]string{}
			}
			if !maps.Equal(got, tt.want) {
				t.Fatalf("after refresh: %v, want %v", got, tt.want)
			}
			if tt.wantExtra == nil {
				tt.wantExtra = map[string][]byte{}
			}
			if !maps.EqualFunc(gotExtra, tt.wantExtra, bytes.Equal) {
				t.Fatalf("extra got %v, want %v", gotExtra, tt.wantExtra)
			}
		})
	}
}

func manyEntries(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprint("k", i)] = "old"
	}
	return m
}

func manyReloads(n int) map[string]reload {
	m := map[string]reload{}
	for i := range n {
		m[fmt.Sprint("k", i)] = reload{value: "new", failed: i%5 == 0}
	}
	return m
}

func manyWant(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprint("k", i)] = map[bool]string{true: "old", false: "new"}[i%5 == 0]
	}
	return m
}

func TestRefreshStopsWhenCtxEnds(t *testing.T) {
	tests := []struct {
		name       string
		cancelAt   int64 // cancel in the load with this number (1-based); 0: before Refresh
		wantCalls  int64 // at most
		wantFailed int   // at least
	}{
		{"cancelled before", 0, 0, 0},
		// The reloads in flight end; the loop may start one more while
		// waiting for a free slot, then stops.
		{"cancelled during", 1, refreshConcurrency + 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(Config{Partitions: 4})
			const entries = 40
			for i := range entries {
				c.Set(i%4, fmt.Sprint("k", i), []byte("old"))
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancelAt == 0 {
				cancel()
			}
			var calls atomic.Int64
			load := func(ctx context.Context, key string) (Outcome, map[string][]byte) {
				if calls.Add(1) == tt.cancelAt {
					cancel()
				}
				<-ctx.Done() // a slow loader that honours ctx
				return Outcome{Err: fmt.Errorf("%w: %w", ErrLoadFailed, ctx.Err())}, nil
			}
			failed, total := c.Refresh(ctx, load, nil)
			if n := calls.Load(); n > tt.wantCalls {
				t.Fatalf("%d reloads after ctx ended, want at most %d", n, tt.wantCalls)
			}
			if total != entries || failed < tt.wantFailed || int64(failed) != calls.Load() {
				t.Fatalf("Refresh = %d failed of %d, with %d reloads", failed, total, calls.Load())
			}
			if c.Len() != entries {
				t.Fatalf("a cut refresh dropped entries: %d left of %d", c.Len(), entries)
			}
		})
	}
}

// TestRefreshThroughLoad refreshes with Load as node does: a loader that no
// longer finds a key drops it, one that fails keeps the old value.
func TestRefreshThroughLoad(t *testing.T) {
	c := New(Config{Partitions: 2})
	c.Set(0, "found", []byte("old"))
	c.Set(1, "gone", []byte("old"))
	c.Set(1, "broken", []byte("old"))
	lc := LoadConfig{Timeout: time.Minute, MaxValueBytes: 100, Logger: testLogger(t),
		Loader: loaders.LoaderFunc(func(_ context.Context, key string) (loaders.Result, error) {
			switch key {
			case "gone":
				return loaders.Result{}, loaders.ErrNotFound
			case "broken":
				panic("boom")
			}
			return loaders.Result{Value: []byte("new"), Extra: map[string][]byte{"extra": []byte("e")}}, nil
		})}
	stopping := context.Background()
	var extras atomic.Int64
	failed, total := c.Refresh(context.Background(), func(ctx context.Context, key string) (Outcome, map[string][]byte) {
		return Load(ctx, stopping, lc, key)
	}, func(m map[string][]byte) { extras.Add(int64(len(m))) })
	if failed != 1 || total != 3 || extras.Load() != 1 {
		t.Fatalf("Refresh = %d failed of %d, %d extra entries; want 1 of 3, 1", failed, total, extras.Load())
	}
	for _, tc := range []struct {
		p         int
		key, want string
	}{{0, "found", "new"}, {1, "gone", ""}, {1, "broken", "old"}} {
		if v, _ := c.Get(tc.p, tc.key); string(v) != tc.want {
			t.Errorf("%s = %q, want %q", tc.key, v, tc.want)
		}
	}
}
