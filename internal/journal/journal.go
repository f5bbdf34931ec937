package journal

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/internal/wal"
	"github.com/hoard-dev/hoard/ring"
	"github.com/hoard-dev/hoard/sinks"
)

// Config configures a Journal.
type Config struct {
	// Root holds one log directory per origin.
	Root string
	// Origin names this incarnation's log (see NextOrigin).
	Origin string
	// SyncEvery is 0 to fsync before an op is acknowledged; otherwise ops
	// are acknowledged once written and the log is fsynced this often.
	SyncEvery time.Duration
	// SegmentBytes bounds a segment of the log; zero: wal's default.
	SegmentBytes int64
	// Logger receives the journal's logs; nil discards them.
	Logger hclog.Logger
}

// Journal is this incarnation's write-ahead log of ops. Safe for
// concurrent use.
type Journal struct {
	log    *wal.Log
	dir    string
	logger hclog.Logger

	// mu guards segs, cur, settled, last, written and closed.
	mu      sync.Mutex
	segs    map[uint64]segLast     // per segment, the last seq of each partition written to it
	cur     curParts               // the partitions of the last record's segment and store
	settled map[position]*progress // per partition, how far its ops have left memory
	last    wal.Ticket             // the last record appended
	written bool                   // a record was appended
	closed  bool
}

// segLast is the last seq of each partition written to a segment: by
// store, indexed by partition (0: none).
type segLast map[string][]uint64

// curParts is a segLast's entry of one store, kept at hand: the next
// record is likely of the same segment and store.
type curParts struct {
	segment uint64
	store   string
	last    []uint64
}

// records recycles the buffers records are encoded in.
var records = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// position names a partition of a store.
type position struct {
	store     string
	partition int
}

// Open starts this incarnation's log in Root/Origin.
func Open(cfg Config) (*Journal, error) {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	dir := filepath.Join(cfg.Root, cfg.Origin)
	l, err := wal.Open(wal.Options{Dir: dir, SegmentBytes: cfg.SegmentBytes, SyncEvery: cfg.SyncEvery, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return &Journal{log: l, dir: dir, logger: cfg.Logger, segs: map[uint64]segLast{}, settled: map[position]*progress{}}, nil
}

// Append writes o, the op numbered seq in partition p of its store, and
// calls done once the log has it (see op.Journal), on the log's writer
// goroutine. It does not block on I/O.
func (j *Journal) Append(o *op.Op, p int, seq uint64, done op.Done) error {
	buf := records.Get().(*[]byte)
	rec := AppendRecord((*buf)[:0], o, p, seq)
	defer func() { // the log copies the record
		*buf = rec
		records.Put(buf)
	}()
	return j.AppendEncoded(rec, o.Store, p, seq, done)
}

// AppendEncoded is Append for an op already encoded by AppendRecord (one
// an owner sent its backup): rec is store's op numbered seq in partition
// p (seqs start at 1). The log copies rec.
func (j *Journal) AppendEncoded(rec []byte, store string, p int, seq uint64, done op.Done) error {
	if p < 0 || p >= ring.MaxPartitions {
		return fmt.Errorf("journal: partition %d out of range", p)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return fmt.Errorf("journal: %w", wal.ErrClosed)
	}
	t, err := j.log.AppendNotify(rec, done)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	j.last, j.written = t, true
	c := &j.cur
	if c.last == nil || c.segment != t.Segment || c.store != store {
		sl := j.segs[t.Segment]
		if sl == nil {
			sl = segLast{}
			j.segs[t.Segment] = sl
		}
		*c = curParts{segment: t.Segment, store: store, last: sl[store]}
	}
	if p >= len(c.last) {
		c.last = slices.Grow(c.last, p+1-len(c.last))[:p+1]
		j.segs[t.Segment][store] = c.last
	}
	c.last[p] = max(c.last[p], seq)
	return nil
}

// Read returns the recorded ops of store in ranges, read back from the log
// while it is written: every op appended before Read was called is seen.
// An owner whose aggregated batch a sink refused (sinks.ErrOverlap: a
// failover delivered some of its ops) rebuilds it from them. Errors: the
// log's write error, ctx's, or a read error.
func (j *Journal) Read(ctx context.Context, store string, ranges []sinks.Range) ([]Recorded, error) {
	j.mu.Lock()
	t, written := j.last, j.written
	j.mu.Unlock()
	if written {
		if err := j.log.Wait(ctx, t); err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
	}
	var out []Recorded
	torn, err := wal.ReadLive(j.dir, func(segment uint64, rec []byte) error {
		r, err := DecodeRecord(rec)
		if err != nil {
			return fmt.Errorf("segment %d: %w", segment, err)
		}
		if r.Store == store && inRanges(ranges, r.Partition, r.Seq) {
			out = append(out, r)
		}
		return nil
	})
	if err == nil && len(torn) > 0 {
		err = fmt.Errorf("segment %d is damaged at offset %d: %s", torn[0].Segment, torn[0].Offset, torn[0].Reason)
	}
	if err != nil {
		return nil, fmt.Errorf("journal: reading back %s: %w", store, err)
	}
	return out, nil
}

// inRanges reports whether seq of partition p lies in one of ranges.
func inRanges(ranges []sinks.Range, p int, seq uint64) bool {
	for _, r := range ranges {
		if r.Partition == p && r.First <= seq && seq <= r.Last {
			return true
		}
	}
	return false
}

// Settled is told that the ops of store in ranges left memory; segments
// that hold nothing else still needed are removed.
func (j *Journal) Settled(store string, ranges []sinks.Range) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, r := range ranges {
		pos := position{store, r.Partition}
		pr := j.settled[pos]
		if pr == nil {
			pr = &progress{}
			j.settled[pos] = pr
		}
		pr.add(r.First, r.Last)
	}
	for _, seg := range j.log.Segments() {
		if !seg.Sealed || !j.obsoleteLocked(seg.Number) {
			continue
		}
		if err := j.log.Remove(seg.Number); err != nil {
			j.logger.Warn("cannot remove a write-ahead log segment", "segment", seg.Number, "error", err)
			continue
		}
		delete(j.segs, seg.Number)
		if j.cur.segment == seg.Number {
			j.cur = curParts{}
		}
	}
}

// obsoleteLocked reports whether every op of segment has left memory.
func (j *Journal) obsoleteLocked(segment uint64) bool {
	for store, parts := range j.segs[segment] {
		for p, last := range parts {
			if last == 0 {
				continue
			}
			if pr := j.settled[position{store, p}]; pr == nil || pr.through < last {
				return false
			}
		}
	}
	return true
}

// Size is the bytes the log holds.
func (j *Journal) Size() int64 { return j.log.Size() }

// Close writes what is pending, acknowledges it and closes the log.
// Idempotent.
func (j *Journal) Close() error {
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
	err := j.log.Close()
	if err != nil && !errors.Is(err, wal.ErrClosed) {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// progress is how far a partition's ops have left memory: every seq up to
// through, plus ranges beyond it that settled out of order.
type progress struct {
	through uint64
	ahead   []sinks.Range
}

func (p *progress) add(first, last uint64) {
	if last <= p.through {
		return
	}
	p.ahead = append(p.ahead, sinks.Range{First: first, Last: last})
	slices.SortFunc(p.ahead, func(a, b sinks.Range) int { return cmp.Compare(a.First, b.First) })
	kept := p.ahead[:0]
	for _, r := range p.ahead {
		switch {
		case r.First <= p.through+1:
			p.through = max(p.through, r.Last)
		default:
			kept = append(kept, r)
		}
	}
	p.ahead = kept
}
