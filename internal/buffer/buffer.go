package buffer

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hoard-dev/hoard/internal/counter"
	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/sinks"
)

// ValueOverhead is what one value counts against MaxBytes beyond its bytes
// (what it cost when each value was a slice of its own).
const ValueOverhead = 24

// Config configures a Store.
type Config struct {
	Partitions int
	// Interval is how long a key's first value waits for its flush.
	Interval time.Duration
	// Jitter adds up to this much to each key's wait, at random.
	Jitter time.Duration
	// MaxSize makes a key due at once when it holds this many values;
	// zero: no limit.
	MaxSize int
	// MaxBytes bounds the bytes held, batches being flushed included; zero
	// or negative: no bound.
	MaxBytes int64
}

// Store holds one buffer store's unflushed values. Safe for concurrent use.
type Store struct {
	cfg    Config
	shards []shard
	held   atomic.Int64  // bytes held, batches being flushed included
	kick   chan struct{} // capacity 1: a key is due now, or memory is high
}

type shard struct {
	// mu guards m, seq, taken and closed.
	mu     sync.Mutex
	m      map[string]*entry
	seq    uint64 // the last op's sequence number in this partition
	taken  uint64 // the last sequence number a take took
	closed bool
}

// entry is one key's values, in order, in one arena: each value its
// length (uvarint) then its bytes. The garbage collector sees one object a
// key instead of one a value, and a value costs its bytes and one or two
// more.
type entry struct {
	data     []byte
	n        int // values held
	bytes    int64
	ops      int64     // inserts that added to it
	deadline time.Time // first value + interval + jitter
	due      bool
}

// New returns an empty store.
func New(cfg Config) *Store {
	return &Store{cfg: cfg, shards: make([]shard, cfg.Partitions), kick: make(chan struct{}, 1)}
}

// Kick receives when a key became due at once (MaxSize) or the store holds
// more than half of MaxBytes: the flush loop should look now.
func (b *Store) Kick() <-chan struct{} { return b.kick }

func (b *Store) signal() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// Add appends values to key in partition p, in order, as the partition's
// next op in sequence; log, when not nil, is called with its sequence
// number first, under the partition's lock (see counter.Log). It returns
// how many values the key holds then. The values are copied. Errors:
// errs.ErrOverloaded (nothing applied), errs.ErrShutdown once a final take
// closed the shard, or log's error (nothing applied).
func (b *Store) Add(p int, key string, values [][]byte, log counter.Log) (int, error) {
	var size int64
	for _, v := range values {
		size += int64(len(v)) + ValueOverhead
	}
	if b.cfg.MaxBytes > 0 {
		if held := b.held.Add(size); held > b.cfg.MaxBytes {
			b.held.Add(-size)
			b.signal()
			return 0, fmt.Errorf("%w: the store holds %d of its %d bytes on this node and its sink is not keeping up", errs.ErrOverloaded, held-size, b.cfg.MaxBytes)
		} else if held > b.cfg.MaxBytes/2 {
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
		return 0, errs.ErrShutdown
	}
	if log != nil {
		if err := log.Log(sh.seq + 1); err != nil {
			sh.mu.Unlock()
			b.held.Add(-size)
			return 0, err
		}
	}
	sh.seq++
	if sh.m == nil {
		sh.m = make(map[string]*entry)
	}
	e := sh.m[key]
	if e == nil {
		e = &entry{deadline: time.Now().Add(b.cfg.Interval + b.randJitter())}
		sh.m[key] = e
	}
	for _, v := range values {
		e.data = binary.AppendUvarint(e.data, uint64(len(v)))
		e.data = append(e.data, v...)
	}
	e.n += len(values)
	e.bytes += size
	e.ops++
	due := b.cfg.MaxSize > 0 && e.n >= b.cfg.MaxSize && !e.due
	if due {
		e.due = true
	}
	held := e.n
	sh.mu.Unlock()
	if due {
		b.signal()
	}
	return held, nil
}

func (b *Store) randJitter() time.Duration {
	if b.cfg.Jitter <= 0 {
		return 0
	}
	return rand.N(b.cfg.Jitter)
}

// Size returns how many values key holds in partition p.
func (b *Store) Size(p int, key string) int {
	sh := &b.shards[p]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.m[key]; e != nil {
		return e.n
	}
	return 0
}

// Dump returns the values key holds in partition p, oldest first, without
// removing them. The values are shared, never modified: callers must not
// modify them.
func (b *Store) Dump(p int, key string) [][]byte {
	sh := &b.shards[p]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.m[key]; e != nil {
		return e.values()
	}
	return nil
}

// values returns the entry's values, slices of its arena: appends never
// change the bytes already there.
func (e *entry) values() [][]byte {
	out := make([][]byte, 0, e.n)
	for rest := e.data; len(rest) > 0; {
		n, w := binary.Uvarint(rest)
		end := w + int(n)
		out = append(out, rest[w:end:end])
		rest = rest[end:]
	}
	return out
}

// Take removes the partitions (every one, or only those listed) that hold
// a key due at now, or every partition with data when all, and returns
// their values, the range of op sequence numbers each partition taken held,
// the inserts and their bytes. A partition is taken whole, so its ops leave
// in one contiguous range; a key that is not due yet leaves early with the
// one that is. The bytes stay counted against MaxBytes until Release. A
// final take closes the shards.
func (b *Store) Take(now time.Time, all, final bool, only []int) ([]sinks.Values, []sinks.Range, int64, int64) {
	var out []sinks.Values
	var ranges []sinks.Range
	var ops, bytes int64
	for i := range counter.Partitions(len(b.shards), only) {
		sh := &b.shards[i]
		sh.mu.Lock()
		sh.closed = sh.closed || final
		due := all
		for _, e := range sh.m {
			if due = due || e.due || !now.Before(e.deadline); due {
				break
			}
		}
		if due && len(sh.m) > 0 {
			for k, e := range sh.m {
				out = append(out, sinks.Values{Key: k, Values: e.values(), Partition: i})
				bytes += e.bytes
				ops += e.ops
			}
			clear(sh.m)
			ranges = append(ranges, sinks.Range{Partition: i, First: sh.taken + 1, Last: sh.seq})
			sh.taken = sh.seq
		}
		sh.mu.Unlock()
	}
	return out, ranges, ops, bytes
}

// Stats counts the keys and values held.
func (b *Store) Stats() (keys int, values int64) {
	for i := range b.shards {
		sh := &b.shards[i]
		sh.mu.Lock()
		keys += len(sh.m)
		for _, e := range sh.m {
			values += int64(e.n)
		}
		sh.mu.Unlock()
	}
	return keys, values
}

// Held is the bytes held, batches being flushed included: what MaxBytes
// bounds.
func (b *Store) Held() int64 { return b.held.Load() }

// High reports whether the store holds more than half of MaxBytes: the
// flush loop then takes every key, not only those due.
func (b *Store) High() bool {
	return b.cfg.MaxBytes > 0 && b.held.Load() > b.cfg.MaxBytes/2
}

// Release stops counting bytes of a batch that was delivered or written to
// the dead-letter.
func (b *Store) Release(bytes int64) { b.held.Add(-bytes) }

// Tick is how often the flush loop looks for due keys.
func (b *Store) Tick() time.Duration {
	return min(max(b.cfg.Interval/8, 5*time.Millisecond), time.Second)
}
