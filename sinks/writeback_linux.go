package sinks

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing n bytes of f at off to
// the disk without waiting for it (sync_file_range(2) with
// SYNC_FILE_RANGE_WRITE), so that the fsync ending a large batch finds
// most of it written already. Go runs a goroutine's blocking syscall on
// the processor it holds until its sysmon takes it back (up to 10ms later,
// more on a busy machine): on a node with one processor a long fsync
// stalls every writer for as long.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
