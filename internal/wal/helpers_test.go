package wal

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// testLogger sends logs to t.Log.
func testLogger(t testing.TB) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "wal", Level: hclog.Debug, Output: logWriter{t}})
}

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// openLog opens a log in a fresh dir (unless opts names one) with logs to
// t.Log, closed when the test ends.
func openLog(t testing.TB, opts Options) *Log {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = filepath.Join(t.TempDir(), "wal")
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	l, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// record is one record as Read returns it.
type record struct {
	seg  uint64
	data string
}

// readAll reads the log in dir.
func readAll(t testing.TB, dir string) ([]record, []Torn) {
	t.Helper()
	var recs []record
	torn, err := Read(dir, func(seg uint64, rec []byte) error {
		recs = append(recs, record{seg, string(rec)})
		return nil
	})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return recs, torn
}

// fileSize returns the size of path.
func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

var errBoom = errors.New("boom")

// faults creates segment files that record what is done to them and fail
// or block on demand. Set its fields before the log uses them.
type faults struct {
	createErr error         // returned by the create of segment 2 and later
	writeErr  error         // returned by every Write
	syncErr   error         // returned by every Sync
	gate      chan struct{} // if not nil, Sync waits until it is closed
	entered   chan struct{} // if not nil, Sync sends to it first (without blocking)
	open      sync.Once     // closes gate once

	// mu guards ops and creates.
	mu      sync.Mutex
	ops     []string // "create N", "write N", "sync N", "close N", N the segment's file name
	creates int
}

// blockSyncs makes every Sync wait for release, reporting on entered.
func (fs *faults) blockSyncs(t testing.TB) {
	fs.gate = make(chan struct{})
	fs.entered = make(chan struct{}, 1024)
	t.Cleanup(fs.release) // registered after openLog's: runs before Close
}

// waitEntered waits until a Sync is entered, failing the test after 10
// seconds.
func (fs *faults) waitEntered(t testing.TB) {
	t.Helper()
	select {
	case <-fs.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for an fsync")
	}
}

// release lets blocked Syncs go on.
func (fs *faults) release() { fs.open.Do(func() { close(fs.gate) }) }

func (fs *faults) log(op string) {
	fs.mu.Lock()
	fs.ops = append(fs.ops, op)
	fs.mu.Unlock()
}

// opsLog returns the ops so far.
func (fs *faults) opsLog() []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]string(nil), fs.ops...)
}

func (fs *faults) create(path string) (segmentFile, error) {
	fs.mu.Lock()
	fs.creates++
	n := fs.creates
	fs.mu.Unlock()
	if n > 1 && fs.createErr != nil {
		return nil, fs.createErr
	}
	f, err := createFile(path)
	if err != nil {
		return nil, err
	}
	name := strings.TrimLeft(strings.TrimSuffix(filepath.Base(path), segmentSuffix), "0")
	fs.log("create " + name)
	return &faultFile{f: f, fs: fs, name: name}, nil
}

type faultFile struct {
	f    segmentFile
	fs   *faults
	name string
}

func (f *faultFile) Write(p []byte) (int, error) {
	if f.fs.writeErr != nil {
		return 0, f.fs.writeErr
	}
	f.fs.log("write " + f.name)
	return f.f.Write(p)
}

func (f *faultFile) Sync() error {
	if f.fs.entered != nil {
		select {
		case f.fs.entered <- struct{}{}:
		default:
		}
	}
	if f.fs.gate != nil {
		<-f.fs.gate
	}
	if f.fs.syncErr != nil {
		return f.fs.syncErr
	}
	f.fs.log("sync " + f.name)
	return f.f.Sync()
}

func (f *faultFile) Close() error {
	f.fs.log("close " + f.name)
	return f.f.Close()
}
