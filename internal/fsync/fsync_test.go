package fsync

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// syncers are the two ways a Syncer works: through its ring (when the
// kernel grants one) and through File.Sync.
func syncers(t *testing.T) map[string]*Syncer {
	t.Helper()
	s := New()
	t.Cleanup(func() { s.Close() })
	out := map[string]*Syncer{"File.Sync": {}}
	if s.Ring() {
		out["io_uring"] = s
	} else if runtime.GOOS == "linux" {
		t.Log("no io_uring here: only the File.Sync path is tested")
	}
	return out
}

func TestSyncFlushesWhatWasWritten(t *testing.T) {
	for name, s := range syncers(t) {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for i := range 3 { // the ring is reused
				if _, err := f.WriteString("line\n"); err != nil {
					t.Fatal(err)
				}
				if err := s.Sync(f); err != nil {
					t.Fatalf("sync %d: %v", i, err)
				}
			}
			if b, err := os.ReadFile(path); err != nil || string(b) != "line\nline\nline\n" {
				t.Fatalf("file holds %q (%v)", b, err)
			}
		})
	}
}

// fsync(2) of a pipe fails with EINVAL: the ring reports the kernel's
// error as File.Sync does. A closed file fails before any call.
func TestSyncReportsErrors(t *testing.T) {
	for name, s := range syncers(t) {
		t.Run(name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			defer w.Close()
			err = s.Sync(w)
			var pe *os.PathError
			if !errors.Is(err, syscall.EINVAL) || !errors.As(err, &pe) || pe.Op != "sync" {
				t.Fatalf("sync of a pipe: %v, want a sync PathError of EINVAL", err)
			}
			f, err := os.Create(filepath.Join(t.TempDir(), "f"))
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			if err := s.Sync(f); !errors.Is(err, os.ErrClosed) {
				t.Fatalf("sync of a closed file: %v, want os.ErrClosed", err)
			}
		})
	}
}

func TestSyncAfterCloseFails(t *testing.T) {
	s := New()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := s.Sync(f); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("sync after Close: %v, want os.ErrClosed", err)
	}
}
