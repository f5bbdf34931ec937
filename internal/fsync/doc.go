// Package fsync flushes a file to the disk without holding up the node's
// other goroutines.
//
// A Go program runs a goroutine's system call on the processor (P) the
// goroutine holds, and the runtime gives that processor to other goroutines
// only when its monitor thread sees the call still under way on two of its
// ticks, which are 10 ms apart on a busy program. On a node with one
// processor (GOMAXPROCS=1, as in a container given one CPU), an fsync of
// 10-15 ms therefore stalls every connection for as long, though the CPU is
// idle meanwhile.
//
// On Linux a Syncer hands the fsync to the kernel through an io_uring of
// its own (IORING_OP_FSYNC, run by a kernel worker) and waits for the
// completion on an eventfd through Go's network poller, which parks the
// goroutine and frees its processor at once. Where io_uring is missing or
// refused (an old kernel, a seccomp profile, kernel.io_uring_disabled), and
// on other systems, it calls File.Sync.
//
//	s := fsync.New()
//	defer s.Close()
//	err := s.Sync(f) // as f.Sync()
package fsync
