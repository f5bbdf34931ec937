package node

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hoard-dev/hoard/sinks"
)

// ErrOverloaded is returned by Insert when the store already holds its
// max_bytes on this node, its sink not keeping up: nothing was applied, and
// the caller should back off and retry.
var ErrOverloaded = errors.New("node: overloaded")

// valueOverhead is what holding one value costs beyond its bytes (its slice
// header), counted against max_bytes.
const valueOverhead = 24

// bufferState holds a buffer store's unflushed values, sharded by partition
// like counters. Each key flushes on its own clock: interval (plus jitter)
// after its first value since its last flush, or at once when it reaches
// max_size values.
type bufferState struct {
	interval time.Duration
	jitter   time.Duration
	maxSize  int
	maxBytes int64

	shards []bufferShard
	held   atomic.Int64  // bytes held, batches being flushed included
	kick   chan struct{} // capacity 1: a key is due now, or memory is high
}

type bufferShard struct {
	// mu guards m and closed.
	mu     sync.Mutex
	m      map[string]*bufEntry
	closed bool
}

type bufEntry struct {
	values   [][]byte
	bytes    int64
	ops      int64     // inserts that added to it
	deadline time.Time // first value + interval + jitter
	due      bool
}

func newBufferState(partitions int, cfg StoreConfig) *bufferState {
	return &bufferState{
		interval: cfg.Interval,
		jitter:   cfg.Jitter,
		maxSize:  cfg.MaxSize,
		maxBytes: cfg.MaxBytes,
		shards:   make([]bufferShard, partitions),
		kick:     make(chan struct{}, 1),
	}
}

func (b *bufferState) signal() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// add appends values to key in partition p, in order. The values are kept,
// not copied. Errors: ErrOverloaded, ErrShutdown.
func (b *bufferState) add(p int, key string, values [][]byte) error {
	var size int64
	for _, v := range values {
		size += int64(len(v)) + valueOverhead
	}
	if b.maxBytes > 0 {
		if held := b.held.Add(size); held > b.maxBytes {
			b.held.Add(-size)
			b.signal()
			return fmt.Errorf("%w: the store holds %d of its %d bytes on this node and its sink is not keeping up", ErrOverloaded, held-size, b.maxBytes)
		} else if held > b.maxBytes/2 {
			b.signal() // flush early, before inserts start to fail
		}
	} else {
		b.held.Add(size)
	}
	sh := &b.shards[p]
	sh.mu.Lock()
	if sh.closed {
		sh.mu.Unlock()
		b.held.Add(-size)
		return ErrShutdown
	}
	if sh.m == nil {
		sh.m = make(map[string]*bufEntry)
	}
	e := sh.m[key]
	if e == nil {
		e = &bufEntry{deadline: time.Now().Add(b.interval + b.randJitter())}
		sh.m[key] = e
	}
	e.values = append(e.values, values...)
	e.bytes += size
	e.ops++
	due := b.maxSize > 0 && len(e.values) >= b.maxSize && !e.due
	if due {
		e.due = true
	}
	sh.mu.Unlock()
	if due {
		b.signal()
	}
	return nil
}

func (b *bufferState) randJitter() time.Duration {
	if b.jitter <= 0 {
		return 0
	}
	return rand.N(b.jitter)
}

// size returns how many values key holds in partition p.
func (b *bufferState) size(p int, key string) int {
	sh := &b.shards[p]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.m[key]; e != nil {
		return len(e.values)
	}
	return 0
}

// dump returns the values key holds in partition p, without removing them.
// The values are shared, never modified: callers must not modify them.
func (b *bufferState) dump(p int, key string) [][]byte {
	sh := &b.shards[p]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.m[key]; e != nil {
		return append([][]byte(nil), e.values...)
	}
	return nil
}

// take removes the keys that are due (all of them when all) and returns
// their values, the inserts they held and their bytes. A final take closes
// the shards.
func (b *bufferState) take(now time.Time, all, final bool, only []int) ([]sinks.Values, int64, int64) {
	var out []sinks.Values
	var ops, bytes int64
	for _, i := range shardIndexes(len(b.shards), only) {
		sh := &b.shards[i]
		sh.mu.Lock()
		sh.closed = sh.closed || final
		for k, e := range sh.m {
			if all || e.due || !now.Before(e.deadline) {
				out = append(out, sinks.Values{Key: k, Values: e.values})
				bytes += e.bytes
				ops += e.ops
				delete(sh.m, k)
			}
		}
		sh.mu.Unlock()
	}
	return out, ops, bytes
}

// stats counts the keys and values held.
func (b *bufferState) stats() (keys int, values int64) {
	for i := range b.shards {
		sh := &b.shards[i]
		sh.mu.Lock()
		keys += len(sh.m)
		for _, e := range sh.m {
			values += int64(len(e.values))
		}
		sh.mu.Unlock()
	}
	return keys, values
}

// release stops counting bytes of a batch that was delivered or written
// to the dead-letter.
func (b *bufferState) release(bytes int64) { b.held.Add(-bytes) }

// tick is how often the flush loop looks for due keys.
func (b *bufferState) tick() time.Duration {
	return min(max(b.interval/8, 5*time.Millisecond), time.Second)
}
