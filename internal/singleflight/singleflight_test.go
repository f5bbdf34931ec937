package singleflight

import (
	"slices"
	"sync"
	"testing"
)

// step is one call on a Group and what it must return.
type step struct {
	op  string // "join", "joinNil", "stale", "allStale", "finish"
	key string

	wantFirst   bool  // join
	wantWaiters []int // finish: the ids of the waiters returned, in order
	wantStale   bool  // finish
	wantLen     int   // Len after the step
}

func TestGroup(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"first caller runs the call", []step{
			{op: "join", key: "a", wantFirst: true, wantLen: 1},
			{op: "finish", key: "a", wantWaiters: []int{0}, wantLen: 0},
		}},
		{"later callers only wait", []step{
			{op: "join", key: "a", wantFirst: true, wantLen: 1},
			{op: "join", key: "a", wantLen: 1},
			{op: "join", key: "a", wantLen: 1},
			{op: "finish", key: "a", wantWaiters: []int{0, 1, 2}, wantLen: 0},
		}},
		{"keys are independent", []step{
			{op: "join", key: "a", wantFirst: true, wantLen: 1},
			{op: "join", key: "b", wantFirst: true, wantLen: 2},
			{op: "join", key: "b", wantLen: 2},
			{op: "finish", key: "a", wantWaiters: []int{0}, wantLen: 1},
			{op: "finish", key: "b", wantWaiters: []int{1, 2}, wantLen: 0},
		}},
		{"a call after finish is first again", []step{
			{op: "join", key: "a", wantFirst: true, wantLen: 1},
			{op: "finish", key: "a", wantWaiters: []int{0}},
			{op: "join", key: "a", wantFirst: true, wantLen: 1},
			{op: "finish", key: "a", wantWaiters: []int{2}},
		}},
		{"nil wait is not returned", []step{
			{op: "joinNil", key: "a", wantFirst: true, wantLen: 1},
			{op: "join", key: "a", wantLen: 1},
			{op: "joinNil", key: "a", wantLen: 1},
			{op: "finish", key: "a", wantWaiters: []int{1}},
		}},
		{"write during the call makes it stale", []step{
			{op: "join", key: "a", wantFirst: true, wantLen: 1},
			{op: "stale", key: "a", wantLen: 1},
			{op: "finish", key: "a", wantWaiters: []int{0}, wantStale: true},
		}},
		{"stale marks only its key", []step{
			{op: "join", key: "a", wantFirst: true, wantLen: 1},
			{op: "join", key: "b", wantFirst: true, wantLen: 2},
			{op: "stale", key: "b", wantLen: 2},
			{op: "finish", key: "a", wantWaiters: []int{0}, wantLen: 1},
			{op: "finish", key: "b", wantWaiters: []int{1}, wantStale: true},
		}},
		{"stale without a call is forgotten", []step{
			{op: "stale", key: "a"},
			{op: "join", key: "a", wantFirst: true, wantLen: 1},
			{op: "finish", key: "a", wantWaiters: []int{1}},
		}},
		{"stale does not outlive its call", []step{
			{op: "join", key: "a", wantFirst: true, wantLen: 1},
			{op: "stale", key: "a", wantLen: 1},
			{op: "finish", key: "a", wantWaiters: []int{0}, wantStale: true},
			{op: "join", key: "a", wantFirst: true, wantLen: 1},
			{op: "finish", key: "a", wantWaiters: []int{3}},
		}},
		{"all stale marks every call in flight", []step{
			{op: "join", key: "a", wantFirst: true, wantLen: 1},
			{op: "join", key: "b", wantFirst: true, wantLen: 2},
			{op: "allStale", wantLen: 2},
			{op: "join", key: "c", wantFirst: true, wantLen: 3},
			{op: "finish", key: "a", wantWaiters: []int{0}, wantStale: true, wantLen: 2},
			{op: "finish", key: "b", wantWaiters: []int{1}, wantStale: true, wantLen: 1},
			{op: "finish", key: "c", wantWaiters: []int{3}},
		}},
		{"finish without a call", []step{
			{op: "finish", key: "a"},
			{op: "join", key: "a", wantFirst: true, wantLen: 1},
			{op: "finish", key: "b", wantLen: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g Group[int]
			var called []int // ids of the waiters called
			for i, s := range tt.steps {
				id := i
				switch s.op {
				case "join", "joinNil":
					var wait func(int)
					if s.op == "join" {
						wait = func(v int) {
							if v != 42 {
								t.Errorf("waiter %d got %d, want 42", id, v)
							}
							called = append(called, id)
						}
					}
					if first := g.Join(s.key, wait); first != s.wantFirst {
						t.Fatalf("step %d: Join(%q) first = %v, want %v", i, s.key, first, s.wantFirst)
					}
				case "stale":
					g.MarkStale(s.key)
				case "allStale":
					g.MarkAllStale()
				case "finish":
					called = nil
					waiters, stale := g.Finish(s.key)
					for _, w := range waiters {
						w(42)
					}
					if stale != s.wantStale {
						t.Fatalf("step %d: Finish(%q) stale = %v, want %v", i, s.key, stale, s.wantStale)
					}
					if !slices.Equal(called, s.wantWaiters) {
						t.Fatalf("step %d: Finish(%q) returned the waiters of steps %v, want %v", i, s.key, called, s.wantWaiters)
					}
				default:
					t.Fatalf("step %d: unknown op %q", i, s.op)
				}
				if n := g.Len(); n != s.wantLen {
					t.Fatalf("step %d (%s %q): Len = %d, want %d", i, s.op, s.key, n, s.wantLen)
				}
			}
		})
	}
}

// TestGroupUnderCallersLock runs many callers of one key at once, each
// joining under a shared lock as the package doc shows: exactly one runs the
// call and every caller gets its result.
func TestGroupUnderCallersLock(t *testing.T) {
	const callers = 50
	var (
		mu    sync.Mutex // guards g and first
		g     Group[string]
		first int
	)
	var start, joined sync.WaitGroup
	start.Add(1)
	joined.Add(callers)
	results := make(chan string, callers)
	for range callers {
		go func() {
			start.Wait()
			mu.Lock()
			if g.Join("k", func(v string) { results <- v }) {
				first++
			}
			mu.Unlock()
			joined.Done()
		}()
	}
	start.Done()
	joined.Wait()
	mu.Lock()
	waiters, stale := g.Finish("k")
	mu.Unlock()
	for _, w := range waiters {
		w("v")
	}
	close(results)
	if first != 1 || stale || len(waiters) != callers {
		t.Fatalf("first = %d, stale = %v, waiters = %d; want 1, false, %d", first, stale, len(waiters), callers)
	}
	for v := range results {
		if v != "v" {
			t.Fatalf("a waiter got %q", v)
		}
	}
}
