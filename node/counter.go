package node

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/hoard-dev/hoard/sinks"
)

// ErrOverflow is returned when an increment would take a key's unflushed
// count beyond the int64 range. Nothing is applied: counts never wrap.
var ErrOverflow = errors.New("node: counter overflow")

// counterState holds a counter store's unflushed deltas, sharded by
// partition so writers on different partitions never contend.
type counterState struct {
	shards []counterShard
}

type counterShard struct {
	// mu guards m, ops and closed.
	mu     sync.Mutex
	m      map[string]int64 // nil until the first write after a flush
	ops    int64            // increments applied since the last take
	closed bool             // set by the final take: later writes fail
}

func newCounterState(partitions int) *counterState {
	return &counterState{shards: make([]counterShard, partitions)}
}

// add applies delta to key in partition p.
func (c *counterState) add(p int, key string, delta int64) error {
	sh := &c.shards[p]
	sh.mu.Lock()
	if sh.closed {
		sh.mu.Unlock()
		return ErrShutdown
	}
	cur := sh.m[key]
	sum, ok := addInt64(cur, delta)
	if !ok {
		sh.mu.Unlock()
		return fmt.Errorf("%w: %q holds %d, adding %d", ErrOverflow, key, cur, delta)
	}
	if sh.m == nil {
		sh.m = make(map[string]int64)
	}
	sh.m[key] = sum
	sh.ops++
	sh.mu.Unlock()
	return nil
}

// get returns the unflushed delta of key in partition p.
func (c *counterState) get(p int, key string) int64 {
	sh := &c.shards[p]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.m[key]
}

// take swaps the shards' maps out (every shard, or only those listed) and
// returns their contents and the number of increments they hold. A final take closes the shards: later
// writes fail with ErrShutdown instead of landing after the last flush.
func (c *counterState) take(final bool, only []int) ([]sinks.Count, int64) {
	var out []sinks.Count
	var ops int64
	for _, i := range shardIndexes(len(c.shards), only) {
		sh := &c.shards[i]
		sh.mu.Lock()
		m := sh.m
		sh.m = nil
		ops += sh.ops
		sh.ops = 0
		sh.closed = sh.closed || final
		sh.mu.Unlock()
		for k, v := range m {
			out = append(out, sinks.Count{Key: k, Count: v})
		}
	}
	return out, ops
}

// addInt64 returns a+b and whether it did not overflow.
func addInt64(a, b int64) (int64, bool) {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return 0, false
	}
	return a + b, true
}

// stats counts the keys and increments held.
func (c *counterState) stats() (keys int, ops int64) {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		keys += len(sh.m)
		ops += sh.ops
		sh.mu.Unlock()
	}
	return keys, ops
}

// shardIndexes returns only, or every index below n when only is nil.
func shardIndexes(n int, only []int) []int {
	if only != nil {
		return only
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	return all
}
