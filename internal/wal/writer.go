package wal

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"time"
)

// maxKeepBytes bounds the pending buffer the writer keeps for reuse: one
// grown larger by a burst is dropped after its write.
const maxKeepBytes = 4 << 20

// maxKeepCalls likewise bounds the callbacks slice the writer keeps.
const maxKeepCalls = 1 << 16

// runWriter is the writer goroutine: each time something is pending it
// takes all of it and commits it as one group. At Close it commits what is
// left, fsyncs and closes the active segment.
func (l *Log) runWriter() {
	var buf []byte
	var spans []span
	var calls []Done
	for {
		select {
		case <-l.kick:
			// Let the appenders that are runnable append first, so that
			// one write takes them all: without this the writer, readied
			// by the first append, runs before the others (always so
			// with one processor) and writes once per appender.
			runtime.Gosched()
			buf, spans, calls = l.commit(buf, spans, calls)
		case <-l.stop:
			// Append refuses records now, so one commit takes the rest.
			l.commit(buf, spans, calls)
			l.closeActive()
			return
		}
	}
}

// commit swaps the pending buffer for buf (empty, the writer's spare),
// writes what was pending and fsyncs it if so configured, then wakes its
// group's waiters. It returns the buffer it wrote, emptied, as the next
// spare, and likewise the group's callbacks: calls is the spare the next
// group's are appended to.
func (l *Log) commit(buf []byte, spans []span, calls []Done) ([]byte, []span, []Done) {
	l.mu.Lock()
	pbuf, pspans, g, err := l.buf, l.spans, l.group, l.err
	l.buf, l.spans, l.group = buf, spans, nil
	if l.spareCalls == nil {
		l.spareCalls, calls = calls, nil
	}
	l.mu.Unlock()
	if g == nil {
		return pbuf[:0], pspans[:0], calls
	}
	if err == nil {
		if err = l.write(pbuf, pspans); err != nil {
			l.fail(err)
		}
	}
	g.err = err
	close(g.done)
	for _, f := range g.callbacks {
		f.Done(err)
	}
	if cap(pbuf) > maxKeepBytes {
		pbuf = nil
	}
	if cap(g.callbacks) <= maxKeepCalls {
		calls = g.callbacks[:0]
		clear(g.callbacks[:cap(g.callbacks)]) // the callbacks hold their ops
	}
	g.callbacks = nil
	return pbuf[:0], pspans[:0], calls
}

// write writes buf with one write(2) per segment its spans name, rotating
// to each new segment, then fsyncs the active segment when SyncEvery is
// zero.
func (l *Log) write(buf []byte, spans []span) error {
	start := 0
	for _, s := range spans {
		if s.seg != l.cur {
			if err := l.rotate(s.seg); err != nil {
				return err
			}
		}
		n, err := l.f.Write(buf[start:s.end])
		l.writes.Add(1)
		l.grow(int64(n))
		l.dirty.Store(true) // before a rotation to the next span's segment
		if err != nil {
			return fmt.Errorf("wal: write segment %d: %w", l.cur, err)
		}
		start = s.end
	}
	if l.opts.SyncEvery > 0 {
		return nil // the sync goroutine's job
	}
	return l.syncActive() // no sync goroutine: no need for syncMu
}

// syncActive fsyncs the active segment if it has writes not yet fsynced.
// The caller holds syncMu, or is the writer when there is no sync
// goroutine. A write that lands during the fsync marks the segment dirty
// again.
func (l *Log) syncActive() error {
	if !l.dirty.Swap(false) {
		return nil
	}
	l.syncs.Add(1)
	var err error
	if f, ok := l.f.(*os.File); ok {
		err = l.syncer.Sync(f) // a test's fault-injecting file syncs itself
	} else {
		err = l.f.Sync()
	}
	if err != nil {
		return fmt.Errorf("wal: sync segment %d: %w", l.cur, err)
	}
	return nil
}

// grow counts n bytes written to the active segment.
func (l *Log) grow(n int64) {
	l.segMu.Lock()
	l.segs[len(l.segs)-1].Bytes += n
	l.segMu.Unlock()
	l.size.Add(n)
}

// rotate seals the active segment (fsync, close) and makes segment next
// the active one.
func (l *Log) rotate(next uint64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if err := l.syncActive(); err != nil {
		return err
	}
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("wal: close segment %d: %w", l.cur, err)
	}
	l.f = nil
	l.seal()
	f, err := l.createSegment(next)
	if err != nil {
		return err
	}
	l.f, l.cur = f, next
	l.segMu.Lock()
	l.segs = append(l.segs, SegmentInfo{Number: next})
	l.segMu.Unlock()
	l.logger.Debug("segment sealed", "segment", next-1, "next", next)
	return nil
}

// seal marks the last segment, the active one, sealed.
func (l *Log) seal() {
	l.segMu.Lock()
	if k := len(l.segs) - 1; k >= 0 {
		l.segs[k].Sealed = true
	}
	l.segMu.Unlock()
}

// closeActive fsyncs (unless the log failed) and closes the active
// segment, recording the first error as the log's failure.
func (l *Log) closeActive() {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.f == nil { // a rotation failed half-way
		return
	}
	l.mu.Lock()
	failed := l.err != nil
	l.mu.Unlock()
	if !failed {
		if err := l.syncActive(); err != nil {
			l.fail(err)
		}
	}
	if err := l.f.Close(); err != nil {
		l.fail(fmt.Errorf("wal: close segment %d: %w", l.cur, err))
	}
	l.f = nil
	l.seal()
}

// runSyncer is the sync goroutine (SyncEvery > 0): it fsyncs the active
// segment every SyncEvery, less up to 10% of jitter, if it was written to.
func (l *Log) runSyncer() {
	t := time.NewTimer(l.syncInterval())
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return // the writer fsyncs once more at Close
		case <-t.C:
			l.syncDirty()
			t.Reset(l.syncInterval())
		}
	}
}

// syncInterval is SyncEvery less a random 0-10%: jittered, and never
// longer than promised.
func (l *Log) syncInterval() time.Duration {
	d := l.opts.SyncEvery
	return d - rand.N(d/10+1)
}

// syncDirty fsyncs the active segment if it has unsynced writes.
func (l *Log) syncDirty() {
	l.syncMu.Lock()
	var err error
	if l.f != nil {
		err = l.syncActive()
	}
	l.syncMu.Unlock()
	if err != nil {
		l.fail(err)
	}
}
