package wal

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestConcurrentWaitersShareOneSync holds the first group's fsync while
// many goroutines append, and checks that all of them are then committed
// with one write and one fsync.
func TestConcurrentWaitersShareOneSync(t *testing.T) {
	fs := &faults{}
	l := openLog(t, Options{create: fs.create})
	fs.blockSyncs(t)
	first, err := l.Append([]byte("first"))
	if err != nil {
		t.Fatal(err)
	}
	fs.waitEntered(t) // the writer is in the first group's fsync

	const waiters = 256
	var appended, waited sync.WaitGroup
	errs := make(chan error, waiters)
	appended.Add(waiters)
	for i := range waiters {
		waited.Go(func() {
			tk, err := l.Append(fmt.Appendf(nil, "record %d", i))
			appended.Done()
			if err == nil {
				err = l.Wait(context.Background(), tk)
			}
			errs <- err
		})
	}
	appended.Wait()
	fs.release()
	if err := l.Wait(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	waited.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if w, s := l.writes.Load(), l.syncs.Load(); w != 2 || s != 2 {
		t.Errorf("%d writes and %d fsyncs for two groups, want 2 and 2", w, s)
	}
}

// TestWaitHonoursContext checks that a waiter whose ctx ends gives up
// while the fsync its record needs (SyncEvery 0) has not returned, and
// that the record is committed all the same.
func TestWaitHonoursContext(t *testing.T) {
	fs := &faults{}
	l := openLog(t, Options{create: fs.create})
	fs.blockSyncs(t)
	tk, err := l.Append([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	fs.waitEntered(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := l.Wait(ctx, tk); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with an ended ctx: %v", err)
	}
	fs.release()
	if err := l.Wait(context.Background(), tk); err != nil {
		t.Fatalf("Wait after the fsync: %v", err)
	}
}

// TestBackgroundSyncDoesNotBlockWaiters holds the background fsync and
// checks that writes are still acknowledged meanwhile (SyncEvery > 0).
func TestBackgroundSyncDoesNotBlockWaiters(t *testing.T) {
	fs := &faults{}
	l := openLog(t, Options{SyncEvery: time.Millisecond, create: fs.create})
	fs.blockSyncs(t)
	for i := range 20 {
		tk, err := l.Append([]byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Wait(context.Background(), tk); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			fs.waitEntered(t) // the sync goroutine is stuck in fsync from now on
		}
	}
}

// TestFailureBreaksTheLog injects write, fsync and create failures: the
// records' waiters get the error, as do later Appends and Close.
func TestFailureBreaksTheLog(t *testing.T) {
	tests := []struct {
		name      string
		faults    func() *faults
		syncEvery time.Duration
		records   int  // appended before the Wait; two go to two segments
		wantWait  bool // the last record's Wait fails (else a later Append does)
	}{
		{name: "write", faults: func() *faults { return &faults{writeErr: errBoom} }, wantWait: true},
		{name: "write with background sync", faults: func() *faults { return &faults{writeErr: errBoom} }, syncEvery: time.Hour, wantWait: true},
		{name: "sync", faults: func() *faults { return &faults{syncErr: errBoom} }, wantWait: true},
		{name: "background sync", faults: func() *faults { return &faults{syncErr: errBoom} }, syncEvery: time.Millisecond, records: 1},
		{name: "create of the next segment", faults: func() *faults { return &faults{createErr: errBoom} }, wantWait: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := tc.faults()
			l := openLog(t, Options{SegmentBytes: 16, SyncEvery: tc.syncEvery, create: fs.create})
			var tk Ticket
			n := tc.records
			if n == 0 {
				n = 2
			}
			for i := range n {
				next, err := l.Append([]byte("12345678"))
				if i > 0 && errors.Is(err, errBoom) {
					break // the first record's group failed already
				}
				if err != nil {
					t.Fatal(err)
				}
				tk = next
			}
			err := l.Wait(context.Background(), tk)
			if tc.wantWait {
				if !errors.Is(err, errBoom) {
					t.Fatalf("Wait: %v, want boom", err)
				}
			} else if err != nil {
				t.Fatalf("Wait: %v", err)
			}
			waitFor(t, "Append to fail", func() bool {
				_, err := l.Append([]byte("x"))
				return errors.Is(err, errBoom)
			})
			if err := l.Close(); !errors.Is(err, errBoom) {
				t.Fatalf("Close: %v, want boom", err)
			}
			if err := l.Close(); !errors.Is(err, errBoom) {
				t.Fatalf("second Close: %v, want boom", err)
			}
			for _, s := range l.Segments() {
				if !s.Sealed {
					t.Errorf("segment %d not sealed after Close", s.Number)
				}
			}
		})
	}
}

// TestFilesAreSyncedBeforeMovingOn checks the order of file operations: a
// sealed segment's last write is fsynced before the segment is closed and
// before the next one is written, also when one group of records spans
// segments, and Close fsyncs the last one, whatever SyncEvery.
func TestFilesAreSyncedBeforeMovingOn(t *testing.T) {
	tests := []struct {
		name      string
		syncEvery time.Duration
		held      int // records appended before an fsync is held, then two more in one group; 0: wait for each record
	}{
		{name: "record by record", syncEvery: 0},
		{name: "record by record with background sync", syncEvery: time.Hour},
		{name: "one group across segments", syncEvery: 0, held: 1},                              // held: segment 1's fsync
		{name: "one group across segments with background sync", syncEvery: time.Hour, held: 2}, // held: the rotation's
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := &faults{}
			l := openLog(t, Options{SegmentBytes: 16, SyncEvery: tc.syncEvery, create: fs.create})
			if tc.held > 0 {
				fs.blockSyncs(t)
			}
			var tickets []Ticket
			for i := range 4 {
				if tc.held > 0 && i == tc.held {
					fs.waitEntered(t) // the writer is held: the next records make one group
				}
				tk, err := l.Append([]byte("12345678")) // fills a segment
				if err != nil {
					t.Fatal(err)
				}
				if tc.held == 0 {
					if err := l.Wait(context.Background(), tk); err != nil {
						t.Fatal(err)
					}
				}
				tickets = append(tickets, tk)
			}
			if tc.held > 0 {
				fs.release()
			}
			for _, tk := range tickets {
				if err := l.Wait(context.Background(), tk); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			checkSyncOrder(t, fs.opsLog(), 4)
		})
	}
}

// checkSyncOrder checks that, for each of segments 1 to n, the last write
// comes before an fsync, which comes before the close, which comes before
// the first write of the next segment.
func checkSyncOrder(t *testing.T, ops []string, n int) {
	t.Helper()
	last := func(op string) int {
		for i := len(ops) - 1; i >= 0; i-- {
			if ops[i] == op {
				return i
			}
		}
		return -1
	}
	for seg := 1; seg <= n; seg++ {
		write, sync, closed := last(fmt.Sprint("write ", seg)), last(fmt.Sprint("sync ", seg)), last(fmt.Sprint("close ", seg))
		next := slices.Index(ops, fmt.Sprint("write ", seg+1))
		if write < 0 || !(write < sync && sync < closed) || (seg < n && closed > next) {
			t.Errorf("segment %d: ops %q: want its last write, an fsync, its close, then the next segment's writes", seg, ops)
		}
	}
}
