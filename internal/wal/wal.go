package wal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/internal/disk"
	"github.com/hoard-dev/hoard/internal/fsync"
)

// DefaultSegmentBytes is the segment size a zero Options.SegmentBytes means.
const DefaultSegmentBytes = 16 << 20

// headerBytes is the size of a record's header: payload length, then the
// payload's CRC-32C, both little-endian uint32.
const headerBytes = 8

var (
	// ErrClosed is returned by Append after Close.
	ErrClosed = errors.New("wal: closed")
	// ErrTooLarge is returned (wrapped) by Append for a record that cannot
	// fit in a segment.
	ErrTooLarge = errors.New("wal: record too large")
	// ErrEmpty is returned by Append for an empty record: Read treats a
	// zero length as a torn (zero-filled) tail.
	ErrEmpty = errors.New("wal: empty record")
	// ErrExists is returned (wrapped) by Open when its dir already holds
	// segments: a log is written once, then only read.
	ErrExists = errors.New("wal: dir already holds a log")
	// ErrNotSealed is returned (wrapped) by Remove for the segment being
	// written.
	ErrNotSealed = errors.New("wal: segment not sealed")
	// ErrInvalidOptions is returned (wrapped) by Options.Validate and Open.
	ErrInvalidOptions = errors.New("wal: invalid options")
)

// Options configures a Log. The zero value but for Dir is usable.
type Options struct {
	// Dir holds the segment files; it is created if missing and must hold
	// no segments. Required.
	Dir string

	// SegmentBytes bounds a segment file: a record that would take the
	// current segment past it starts a new one. Smaller segments are
	// removed sooner once their records are no longer needed, at the cost
	// of more files and more rotations (each an fsync). A record's payload
	// is at most SegmentBytes-8. Zero means DefaultSegmentBytes (16 MiB).
	SegmentBytes int64

	// SyncEvery trades durability for latency. Zero: Wait returns once the
	// record is written and fsynced, concurrent writers sharing each fsync
	// (group commit). Greater than zero: Wait returns once write(2) did,
	// and a background fsync runs every SyncEvery: a process crash loses
	// nothing acknowledged, a power loss at most that window.
	SyncEvery time.Duration

	// Logger receives the log's messages (rotations, failures). Nil
	// discards them.
	Logger hclog.Logger

	// create opens a new segment file; nil is os.OpenFile. Tests inject
	// faults through it.
	create func(path string) (segmentFile, error)
}

// Validate reports the first problem with o, wrapping ErrInvalidOptions,
// or nil.
func (o Options) Validate() error {
	switch {
	case o.Dir == "":
		return fmt.Errorf("%w: no dir", ErrInvalidOptions)
	case o.SegmentBytes < 0 || (o.SegmentBytes > 0 && o.SegmentBytes <= headerBytes):
		return fmt.Errorf("%w: segment bytes %d, need 0 or more than %d", ErrInvalidOptions, o.SegmentBytes, headerBytes)
	case o.SyncEvery < 0:
		return fmt.Errorf("%w: sync every %s must not be negative", ErrInvalidOptions, o.SyncEvery)
	}
	return nil
}

// segmentFile is what the writer needs of a segment file.
type segmentFile interface {
	io.Writer
	Sync() error
	Close() error
}

// Log appends records to a directory of segment files. One writer
// goroutine writes whatever is pending with one write(2) per segment and
// fsyncs it (group commit). A Log is safe for concurrent use.
type Log struct {
	opts     Options
	maxRec   int // largest payload a record may have
	logger   hclog.Logger
	stop     chan struct{} // closed by Close: the goroutines finish
	kick     chan struct{} // tells the writer that something is pending
	wg       sync.WaitGroup
	syncer   *fsync.Syncer // fsyncs segments without holding the processor
	closeMu  sync.Mutex    // serialises Close
	closeErr error         // guarded by closeMu

	// mu guards everything below it up to syncMu: what is pending and the
	// log's state.
	mu         sync.Mutex
	buf        []byte // encoded records not yet taken by the writer
	spans      []span // buf split by segment, in order
	group      *group // the group buf's records will be committed with; nil if none
	spareCalls []Done // empty: the next group's callbacks go in it
	planSeg    uint64 // the segment the next record goes to
	planBytes  int64  // bytes in planSeg, written or pending
	closed     bool
	err        error // the write or sync failure that broke the log; sticky

	// syncMu guards f against the background sync: the writer holds it
	// to replace or close f, the sync goroutine while it fsyncs f. The
	// writer reads f without it (it alone changes f).
	syncMu sync.Mutex
	f      segmentFile // the active segment; nil once closed
	cur    uint64      // f's segment number (the writer's)
	dirty  atomic.Bool // f has writes not yet fsynced

	// segMu guards segs.
	segMu sync.Mutex
	segs  []SegmentInfo // ascending; the last is the active one unless closed
	size  atomic.Int64  // sum of segs' Bytes

	writes atomic.Int64 // write(2) calls, for tests and benchmarks
	syncs  atomic.Int64 // fsyncs of segment files
}

// span is the end in Log.buf of a run of records bound for segment seg.
type span struct {
	seg uint64
	end int
}

// group is the records one write (and fsync) commits; done is closed
// after err is set.
type group struct {
	done      chan struct{}
	err       error
	callbacks []Done // AppendNotify's, called by the writer after done
}

// Ticket says where an appended record went: Segment is the segment file
// that holds it. Pass it to Wait to learn when the record is durable.
type Ticket struct {
	Segment uint64
	g       *group // the group the record is committed with
}

// SegmentInfo describes one segment file.
type SegmentInfo struct {
	Number uint64 // from 1, in write order
	Bytes  int64  // written to the file so far
	Sealed bool   // no longer written to: Remove may delete it
}

// Open creates a new log in opts.Dir, creating the dir if missing, and
// starts the writer goroutine and, when opts.SyncEvery > 0, the sync
// goroutine; Close stops them. It returns ErrInvalidOptions (wrapped) for
// bad options, ErrExists (wrapped) if the dir already holds segments, or
// the file system's error.
func Open(opts Options) (*Log, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.SegmentBytes == 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	if opts.create == nil {
		opts.create = createFile
	}
	logger := opts.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	// The dir may be new: make its entry in the parent durable too.
	if err := disk.SyncDir(filepath.Dir(opts.Dir)); err != nil {
		return nil, fmt.Errorf("wal: sync dir: %w", err)
	}
	names, err := segmentNames(opts.Dir)
	if err != nil {
		return nil, err
	}
	if len(names) > 0 {
		return nil, fmt.Errorf("%w: %s has %d segments", ErrExists, opts.Dir, len(names))
	}
	l := &Log{
		opts:    opts,
		maxRec:  int(min(opts.SegmentBytes-headerBytes, math.MaxUint32)),
		logger:  logger,
		stop:    make(chan struct{}),
		kick:    make(chan struct{}, 1),
		planSeg: 1,
		cur:     1,
	}
	if l.f, err = l.createSegment(1); err != nil {
		return nil, err
	}
	l.segs = []SegmentInfo{{Number: 1}}
	l.syncer = fsync.New()
	l.goFunc(l.runWriter)
	if opts.SyncEvery > 0 {
		l.goFunc(l.runSyncer)
	}
	return l, nil
}

// goFunc runs f on a goroutine that Close waits for.
func (l *Log) goFunc(f func()) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		f()
	}()
}

// Append copies rec into the pending buffer and returns its Ticket, without
// waiting for I/O. Records appended by one goroutine, or under one lock of
// the caller's, are written in that order. It returns ErrClosed after
// Close, ErrEmpty for an empty rec, ErrTooLarge (wrapped) for a rec over
// SegmentBytes-8, and the write or sync error that broke the log, if one
// did: a log that failed takes nothing more.
func (l *Log) Append(rec []byte) (Ticket, error) {
	return l.append(rec, nil)
}

// Done is told how an AppendNotify ended.
type Done interface{ Done(err error) }

// AppendNotify is Append that tells f, instead of a Wait, once the record
// is durable (see Wait) or failed: f gets nil or the write or sync error.
// f is told exactly once, on the log's writer goroutine, unless
// AppendNotify returns an error; it must not block. A nil f is Append.
func (l *Log) AppendNotify(rec []byte, f Done) (Ticket, error) {
	return l.append(rec, f)
}

func (l *Log) append(rec []byte, f Done) (Ticket, error) {
	if len(rec) == 0 {
		return Ticket{}, ErrEmpty
	}
	if len(rec) > l.maxRec {
		return Ticket{}, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(rec), l.maxRec)
	}
	var h [headerBytes]byte
	binary.LittleEndian.PutUint32(h[:4], uint32(len(rec)))
	binary.LittleEndian.PutUint32(h[4:], checksum(rec))
	n := int64(headerBytes + len(rec))

	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return Ticket{}, ErrClosed
	case l.err != nil:
		err := l.err
		l.mu.Unlock()
		return Ticket{}, err
	}
	if l.planBytes > 0 && l.planBytes+n > l.opts.SegmentBytes {
		l.planSeg++
		l.planBytes = 0
	}
	l.planBytes += n
	wasEmpty := l.group == nil
	if wasEmpty {
		l.group = &group{done: make(chan struct{}), callbacks: l.spareCalls}
		l.spareCalls = nil
	}
	l.buf = append(append(l.buf, h[:]...), rec...)
	if k := len(l.spans) - 1; k >= 0 && l.spans[k].seg == l.planSeg {
		l.spans[k].end = len(l.buf)
	} else {
		l.spans = append(l.spans, span{seg: l.planSeg, end: len(l.buf)})
	}
	if f != nil {
		l.group.callbacks = append(l.group.callbacks, f)
	}
	t := Ticket{Segment: l.planSeg, g: l.group}
	l.mu.Unlock()

	if wasEmpty {
		select {
		case l.kick <- struct{}{}:
		default: // the writer has a kick pending already
		}
	}
	return t, nil
}

// Wait returns nil once t's record is written, and fsynced when
// Options.SyncEvery is zero. It returns the write or sync error if the
// record's group failed (the record may or may not be on disk), or ctx's
// error if ctx ends first. Wait may be called any number of times, also
// after Close.
func (l *Log) Wait(ctx context.Context, t Ticket) error {
	if t.g == nil {
		return errors.New("wal: wait on a zero Ticket")
	}
	select {
	case <-t.g.done:
		return t.g.err
	default:
	}
	select {
	case <-t.g.done:
		return t.g.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Segments lists the log's segments in order. The slice is the caller's.
func (l *Log) Segments() []SegmentInfo {
	l.segMu.Lock()
	defer l.segMu.Unlock()
	return append([]SegmentInfo(nil), l.segs...)
}

// Size returns the bytes written to all segments not removed.
func (l *Log) Size() int64 { return l.size.Load() }

// Remove deletes a sealed segment whose records are no longer needed. It
// returns ErrNotSealed (wrapped) for the segment being written (after
// Close every segment is sealed), an error wrapping fs.ErrNotExist for a
// segment the log does not have, or the file system's error. The removal
// is not made durable by an fsync of the dir: after a power loss the
// segment may be back, to be read again.
func (l *Log) Remove(segment uint64) error {
	l.segMu.Lock()
	defer l.segMu.Unlock()
	for i, s := range l.segs {
		if s.Number != segment {
			continue
		}
		if !s.Sealed {
			return fmt.Errorf("%w: segment %d is active", ErrNotSealed, segment)
		}
		if err := os.Remove(l.path(segment)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("wal: %w", err)
		}
		l.segs = append(l.segs[:i], l.segs[i+1:]...)
		l.size.Add(-s.Bytes)
		return nil
	}
	return fmt.Errorf("wal: segment %d: %w", segment, fs.ErrNotExist)
}

// Close writes and fsyncs what is pending, stops the goroutines and closes
// the active segment, which is then sealed. Waiters of records that could
// not be written get the error, which Close returns too (also the failure
// that broke the log earlier, if one did). Close is idempotent: later
// calls wait for the first and return its result.
func (l *Log) Close() error {
	l.closeMu.Lock()
	defer l.closeMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return l.closeErr
	}
	l.closed = true
	l.mu.Unlock()

	close(l.stop)
	l.wg.Wait()
	l.syncer.Close()
	l.mu.Lock()
	l.closeErr = l.err
	l.mu.Unlock()
	return l.closeErr
}

// fail records err as the failure that broke the log, unless one did
// already.
func (l *Log) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = err
		l.logger.Error("write-ahead log failed: no more appends", "dir", l.opts.Dir, "error", err)
	}
}

// path is the file name of segment n.
func (l *Log) path(n uint64) string { return filepath.Join(l.opts.Dir, segmentName(n)) }

// createSegment creates segment n's file and makes its dir entry durable,
// so that records acknowledged in it are found after a power loss.
func (l *Log) createSegment(n uint64) (segmentFile, error) {
	f, err := l.opts.create(l.path(n))
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	if err := disk.SyncDir(l.opts.Dir); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("wal: sync dir: %w", err)
	}
	return f, nil
}

// createFile creates a segment file that must not exist yet.
func createFile(path string) (segmentFile, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
}
