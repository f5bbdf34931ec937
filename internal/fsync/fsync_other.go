//go:build !linux

package fsync

import "os"

// Syncer syncs files; see the package comment.
type Syncer struct{}

// New returns a Syncer.
func New() *Syncer { return &Syncer{} }

// Sync is f.Sync().
func (*Syncer) Sync(f *os.File) error { return f.Sync() }

// Ring reports whether Sync goes through an io_uring: never here.
func (*Syncer) Ring() bool { return false }

// Close releases the Syncer.
func (*Syncer) Close() error { return nil }
