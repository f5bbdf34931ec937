package wal

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRoundTripAcrossRotation appends records of varied sizes from one
// goroutine and reads them back in order, each from the segment its Ticket
// named, with the segments' bookkeeping matching the files.
func TestRoundTripAcrossRotation(t *testing.T) {
	tests := []struct {
		name      string
		segBytes  int64
		syncEvery time.Duration
		sizes     []int // payload sizes, repeated
		n         int
		wantSegs  int // at least
	}{
		{name: "one segment", sizes: []int{1, 50, 300}, n: 200, wantSegs: 1},
		{name: "rotation", segBytes: 100, sizes: []int{1, 20, 37, 5, 92}, n: 200, wantSegs: 50},
		{name: "records fill segments exactly", segBytes: 64, sizes: []int{56}, n: 20, wantSegs: 20},
		{name: "background sync with rotation", segBytes: 100, syncEvery: 5 * time.Millisecond, sizes: []int{10, 30, 70}, n: 200, wantSegs: 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := openLog(t, Options{SegmentBytes: tc.segBytes, SyncEvery: tc.syncEvery})
			var want []record
			var tickets []Ticket
			for i := range tc.n {
				size := tc.sizes[i%len(tc.sizes)]
				rec := strings.Repeat(string(rune('a'+i%26)), size)
				tk, err := l.Append([]byte(rec))
				if err != nil {
					t.Fatalf("Append %d: %v", i, err)
				}
				want = append(want, record{tk.Segment, rec})
				tickets = append(tickets, tk)
			}
			for i, tk := range tickets {
				if err := l.Wait(context.Background(), tk); err != nil {
					t.Fatalf("Wait %d: %v", i, err)
				}
			}
			last := tickets[len(tickets)-1].Segment
			segs := l.Segments()
			if len(segs) < tc.wantSegs || segs[len(segs)-1].Number != last || segs[len(segs)-1].Sealed {
				t.Fatalf("segments %+v: want at least %d, the last %d active", segs, tc.wantSegs, last)
			}
			for _, s := range segs[:len(segs)-1] {
				if !s.Sealed {
					t.Errorf("segment %d before the active one is not sealed", s.Number)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			checkBookkeeping(t, l)

			got, torn := readAll(t, l.opts.Dir)
			if len(torn) > 0 {
				t.Fatalf("torn: %+v", torn)
			}
			if len(got) != len(want) {
				t.Fatalf("read %d records, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("record %d: got %+v, want %+v", i, got[i], want[i])
				}
			}
		})
	}
}

// checkBookkeeping checks Segments and Size against the files of a closed
// log: numbered without gaps from the first, all sealed, none over
// SegmentBytes.
func checkBookkeeping(t *testing.T, l *Log) {
	t.Helper()
	var total int64
	segs := l.Segments()
	for i, s := range segs {
		if i > 0 && s.Number != segs[i-1].Number+1 {
			t.Errorf("segment %d follows %d", s.Number, segs[i-1].Number)
		}
		if !s.Sealed {
			t.Errorf("segment %d not sealed after Close", s.Number)
		}
		if s.Bytes > l.opts.SegmentBytes {
			t.Errorf("segment %d holds %d bytes, over %d", s.Number, s.Bytes, l.opts.SegmentBytes)
		}
		if size := fileSize(t, l.path(s.Number)); size != s.Bytes {
			t.Errorf("segment %d: %d bytes on disk, Segments says %d", s.Number, size, s.Bytes)
		}
		total += s.Bytes
	}
	if l.Size() != total {
		t.Errorf("Size %d, segments hold %d", l.Size(), total)
	}
	if names, _ := segmentNames(l.opts.Dir); len(names) != len(segs) {
		t.Errorf("%d segment files, Segments lists %d", len(names), len(segs))
	}
}

// TestConcurrentAppendsReadExactlyOnce appends from many goroutines, each
// waiting for each record, and finds every record once, each goroutine's
// in its order.
func TestConcurrentAppendsReadExactlyOnce(t *testing.T) {
	const writers, each = 64, 50
	for _, syncEvery := range []time.Duration{0, 2 * time.Millisecond} {
		t.Run(fmt.Sprintf("sync every %s", syncEvery), func(t *testing.T) {
			l := openLog(t, Options{SegmentBytes: 2048, SyncEvery: syncEvery})
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			for g := range writers {
				wg.Go(func() {
					for i := range each {
						tk, err := l.Append(fmt.Appendf(nil, "%d/%d", g, i))
						if err == nil {
							err = l.Wait(context.Background(), tk)
						}
						if err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			checkBookkeeping(t, l)
			recs, torn := readAll(t, l.opts.Dir)
			if len(torn) > 0 {
				t.Fatalf("torn: %+v", torn)
			}
			next := make([]int, writers)
			for _, r := range recs {
				var g, i int
				if _, err := fmt.Sscanf(r.data, "%d/%d", &g, &i); err != nil {
					t.Fatalf("record %q: %v", r.data, err)
				}
				if i != next[g] {
					t.Fatalf("writer %d: record %d read where %d was due", g, i, next[g])
				}
				next[g]++
			}
			if len(recs) != writers*each {
				t.Fatalf("read %d records, want %d", len(recs), writers*each)
			}
			if l.syncs.Load() >= int64(writers*each) && syncEvery == 0 {
				t.Errorf("%d fsyncs for %d records: group commit shared none", l.syncs.Load(), writers*each)
			}
		})
	}
}

// TestCloseWritesPendingAndRefusesAppends checks Close: what was appended
// is written and its waiters told so, later Appends fail, Close is
// idempotent.
func TestCloseWritesPendingAndRefusesAppends(t *testing.T) {
	for _, syncEvery := range []time.Duration{0, time.Hour} {
		t.Run(fmt.Sprintf("sync every %s", syncEvery), func(t *testing.T) {
			l := openLog(t, Options{SegmentBytes: 256, SyncEvery: syncEvery})
			var tickets []Ticket
			for i := range 100 {
				tk, err := l.Append(fmt.Appendf(nil, "record %d", i))
				if err != nil {
					t.Fatal(err)
				}
				tickets = append(tickets, tk)
			}
			if err := l.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			for i, tk := range tickets {
				if err := l.Wait(context.Background(), tk); err != nil {
					t.Fatalf("Wait %d after Close: %v", i, err)
				}
			}
			if _, err := l.Append([]byte("late")); !errors.Is(err, ErrClosed) {
				t.Fatalf("Append after Close: %v, want ErrClosed", err)
			}
			if err := l.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if recs, _ := readAll(t, l.opts.Dir); len(recs) != len(tickets) {
				t.Fatalf("read %d records, want %d", len(recs), len(tickets))
			}
		})
	}
}

// TestAppendChecksRecordSize checks the records Append refuses.
func TestAppendChecksRecordSize(t *testing.T) {
	l := openLog(t, Options{SegmentBytes: 64})
	tests := []struct {
		name string
		size int
		want error
	}{
		{name: "empty", size: 0, want: ErrEmpty},
		{name: "one byte", size: 1},
		{name: "fills a segment", size: 56},
		{name: "over a segment", size: 57, want: ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk, err := l.Append(make([]byte, tc.size))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Append: %v, want %v", err, tc.want)
			}
			if err == nil {
				if err := l.Wait(context.Background(), tk); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	if err := l.Wait(context.Background(), Ticket{}); err == nil {
		t.Error("Wait on a zero Ticket: no error")
	}
}

// TestRemoveOnlySealedSegments runs steps on one log with three segments.
func TestRemoveOnlySealedSegments(t *testing.T) {
	l := openLog(t, Options{SegmentBytes: 64})
	for i := range 3 {
		tk, err := l.Append(make([]byte, 40+i))
		if err == nil {
			err = l.Wait(context.Background(), tk)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name    string
		close   bool // Close before removing
		segment uint64
		want    error
	}{
		{name: "sealed", segment: 1},
		{name: "sealed again", segment: 1, want: fs.ErrNotExist},
		{name: "unknown", segment: 99, want: fs.ErrNotExist},
		{name: "active", segment: 3, want: ErrNotSealed},
		{name: "last after close", close: true, segment: 3},
		{name: "middle after close", segment: 2},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.close {
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			}
			before := l.Size()
			var bytes int64
			for _, s := range l.Segments() {
				if s.Number == st.segment {
					bytes = s.Bytes
				}
			}
			err := l.Remove(st.segment)
			if !errors.Is(err, st.want) {
				t.Fatalf("Remove(%d): %v, want %v", st.segment, err, st.want)
			}
			_, statErr := os.Stat(l.path(st.segment))
			if err == nil {
				if !errors.Is(statErr, fs.ErrNotExist) {
					t.Errorf("segment file still there: %v", statErr)
				}
				if l.Size() != before-bytes {
					t.Errorf("Size %d after removing %d bytes of %d", l.Size(), bytes, before)
				}
				for _, s := range l.Segments() {
					if s.Number == st.segment {
						t.Errorf("Segments still lists %d", st.segment)
					}
				}
			} else if l.Size() != before {
				t.Errorf("Size changed from %d to %d by a failed Remove", before, l.Size())
			}
		})
	}
	if l.Size() != 0 || len(l.Segments()) != 0 {
		t.Errorf("all removed: Size %d, Segments %+v", l.Size(), l.Segments())
	}
}

// TestOpenWritesANewLogOnly checks the dirs Open takes and refuses.
func TestOpenWritesANewLogOnly(t *testing.T) {
	withLog := filepath.Join(t.TempDir(), "old")
	old, err := Open(Options{Dir: withLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = old.Close() })
	withOther := t.TempDir()
	if err := os.WriteFile(filepath.Join(withOther, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts Options
		want error
	}{
		{name: "missing dir is created", opts: Options{Dir: filepath.Join(t.TempDir(), "a", "b")}},
		{name: "dir with other files", opts: Options{Dir: withOther}},
		{name: "dir with a log", opts: Options{Dir: withLog}, want: ErrExists},
		{name: "no dir", opts: Options{}, want: ErrInvalidOptions},
		{name: "segment too small", opts: Options{Dir: t.TempDir(), SegmentBytes: 8}, want: ErrInvalidOptions},
		{name: "negative segment", opts: Options{Dir: t.TempDir(), SegmentBytes: -1}, want: ErrInvalidOptions},
		{name: "negative sync", opts: Options{Dir: t.TempDir(), SyncEvery: -time.Second}, want: ErrInvalidOptions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Logger = testLogger(t)
			l, err := Open(tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open: %v, want %v", err, tc.want)
			}
			if err != nil {
				return
			}
			defer l.Close()
			if segs := l.Segments(); len(segs) != 1 || segs[0] != (SegmentInfo{Number: 1}) {
				t.Errorf("new log's segments: %+v", segs)
			}
			if l.Size() != 0 {
				t.Errorf("new log's size: %d", l.Size())
			}
			if fileSize(t, l.path(1)) != 0 {
				t.Error("segment 1 is not empty")
			}
		})
	}
}

// TestBackgroundSyncRuns checks that with SyncEvery > 0 the sync goroutine
// fsyncs what was written, and only that.
func TestBackgroundSyncRuns(t *testing.T) {
	l := openLog(t, Options{SyncEvery: time.Millisecond})
	tk, err := l.Append([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a background fsync", func() bool { return l.syncs.Load() > 0 && !l.dirty.Load() })
	if n := l.syncs.Load(); n != 1 {
		t.Errorf("%d fsyncs for one write", n)
	}
}
