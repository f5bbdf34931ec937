package disk_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/hoard-dev/hoard/internal/disk"
)

var errWrite = errors.New("write failed")

func TestWriteAtomic(t *testing.T) {
	tests := []struct {
		name     string
		previous string // the file's content before, "" for no file
		write    func(io.Writer) error
		wantErr  error  // nil: no error
		want     string // the file's content after, "" for no file
	}{
		{
			name:  "new file",
			write: writeString("new"),
			want:  "new",
		},
		{
			name:     "replaces the previous",
			previous: "old",
			write:    writeString("new"),
			want:     "new",
		},
		{
			name:     "empty content",
			previous: "old",
			write:    func(io.Writer) error { return nil },
			want:     "",
		},
		{
			name:     "write fails: the previous stays",
			previous: "old",
			write: func(w io.Writer) error {
				_, _ = io.WriteString(w, "half")
				return errWrite
			},
			wantErr: errWrite,
			want:    "old",
		},
		{
			name: "write fails: no file",
			write: func(w io.Writer) error {
				_, _ = io.WriteString(w, "half")
				return errWrite
			},
			wantErr: errWrite,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state.json")
			if tt.previous != "" {
				if err := os.WriteFile(path, []byte(tt.previous), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := disk.WriteAtomic(path, tt.write)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("WriteAtomic: %v", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("WriteAtomic: error %v, want %v", err, tt.wantErr)
			}
			got, err := os.ReadFile(path)
			switch {
			case errors.Is(err, os.ErrNotExist) && (tt.previous != "" || tt.wantErr == nil):
				t.Fatalf("no file at %s", path)
			case err != nil && !errors.Is(err, os.ErrNotExist):
				t.Fatal(err)
			case string(got) != tt.want:
				t.Errorf("file holds %q, want %q", got, tt.want)
			}
			// No temp file is left behind.
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if e.Name() != "state.json" {
					t.Errorf("left behind: %s", e.Name())
				}
			}
		})
	}
}

func TestWriteAtomicNoDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "state.json")
	called := false
	err := disk.WriteAtomic(path, func(io.Writer) error { called = true; return nil })
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("WriteAtomic into a missing directory: %v, want os.ErrNotExist", err)
	}
	if called {
		t.Error("write was called without a file to write to")
	}
}

func TestWriteAtomicOverADirectory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "taken")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := disk.WriteAtomic(path, writeString("x")); err == nil {
		t.Fatal("WriteAtomic replaced a directory")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the one that was there", len(entries))
	}
}

func TestSyncDir(t *testing.T) {
	if err := disk.SyncDir(t.TempDir()); err != nil {
		t.Errorf("SyncDir: %v", err)
	}
	if err := disk.SyncDir(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("SyncDir of a missing directory: %v, want os.ErrNotExist", err)
	}
}

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	}
}
