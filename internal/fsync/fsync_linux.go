package fsync

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Syncer syncs files; see the package comment. Safe for concurrent use:
// its syncs run one at a time.
type Syncer struct {
	// mu guards everything below, and serialises syncs.
	mu     sync.Mutex
	ring   *ring // nil: File.Sync
	closed bool
}

// New returns a Syncer, with an io_uring when the kernel grants one.
func New() *Syncer {
	r, err := newRing()
	if err != nil {
		return &Syncer{}
	}
	return &Syncer{ring: r}
}

// Ring reports whether Sync goes through an io_uring.
func (s *Syncer) Ring() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ring != nil
}

// Sync flushes f to the disk, as f.Sync() does, and returns its error.
func (s *Syncer) Sync(f *os.File) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("fsync %s: %w", f.Name(), os.ErrClosed)
	}
	if s.ring == nil {
		return f.Sync()
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return f.Sync() // f is nil or closed: File.Sync says so
	}
	var res int32
	var ringErr error
	if err := rc.Control(func(fd uintptr) { res, ringErr = s.ring.fsync(int32(fd)) }); err != nil {
		return f.Sync()
	}
	if ringErr != nil {
		return &os.PathError{Op: "sync", Path: f.Name(), Err: ringErr}
	}
	if res < 0 {
		return &os.PathError{Op: "sync", Path: f.Name(), Err: syscall.Errno(-res)}
	}
	return nil
}

// Close releases the ring; later syncs fail.
func (s *Syncer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.ring == nil {
		return nil
	}
	return s.ring.close()
}

// The kernel's io_uring ABI (include/uapi/linux/io_uring.h).
const (
	opFsync         = 3          // IORING_OP_FSYNC
	sqeAsync        = 1 << 4     // IOSQE_ASYNC: straight to a kernel worker
	registerEventfd = 4          // IORING_REGISTER_EVENTFD
	offSQRing       = 0          // IORING_OFF_SQ_RING
	offCQRing       = 0x8000000  // IORING_OFF_CQ_RING
	offSQEs         = 0x10000000 // IORING_OFF_SQES
	featSingleMmap  = 1 << 0     // IORING_FEAT_SINGLE_MMAP
	ringEntries     = 1
)

type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqringOffsets
	cqOff                                                                  cqringOffsets
}

type sqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	fsyncFlags  uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFdIn  int32
	addr3       uint64
	pad         uint64
}

type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// ring is an io_uring of one entry, with an eventfd the kernel signals on
// each completion, read through the network poller.
type ring struct {
	fd             int
	sqMem, cqMem   []byte // cqMem is sqMem with a single mapping
	sqesMem        []byte
	event          *os.File // the eventfd
	sqTail, sqArr  *uint32
	sqMask         uint32
	cqHead, cqTail *uint32
	cqMask         uint32
	cqes           unsafe.Pointer
	sqes           *sqe
	seq            uint64
}

func newRing() (_ *ring, err error) {
	var p params
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, ringEntries, uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, errno
	}
	r := &ring{fd: int(fd)}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	sqSize := int(p.sqOff.array + p.sqEntries*4)
	cqSize := int(p.cqOff.cqes + p.cqEntries*uint32(unsafe.Sizeof(cqe{})))
	if p.features&featSingleMmap != 0 {
		sqSize = max(sqSize, cqSize)
	}
	if r.sqMem, err = unix.Mmap(r.fd, offSQRing, sqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return nil, err
	}
	r.cqMem = r.sqMem
	if p.features&featSingleMmap == 0 {
		if r.cqMem, err = unix.Mmap(r.fd, offCQRing, cqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
			r.cqMem = nil
			return nil, err
		}
	}
	if r.sqesMem, err = unix.Mmap(r.fd, offSQEs, int(p.sqEntries)*int(unsafe.Sizeof(sqe{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return nil, err
	}
	sq, cq := unsafe.Pointer(&r.sqMem[0]), unsafe.Pointer(&r.cqMem[0])
	r.sqTail = (*uint32)(unsafe.Add(sq, p.sqOff.tail))
	r.sqMask = *(*uint32)(unsafe.Add(sq, p.sqOff.ringMask))
	r.sqArr = (*uint32)(unsafe.Add(sq, p.sqOff.array))
	r.cqHead = (*uint32)(unsafe.Add(cq, p.cqOff.head))
	r.cqTail = (*uint32)(unsafe.Add(cq, p.cqOff.tail))
	r.cqMask = *(*uint32)(unsafe.Add(cq, p.cqOff.ringMask))
	r.cqes = unsafe.Add(cq, p.cqOff.cqes)
	r.sqes = (*sqe)(unsafe.Pointer(&r.sqesMem[0]))

	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	r.event = os.NewFile(uintptr(efd), "io_uring-eventfd")
	efd32 := int32(efd)
	if _, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, fd, registerEventfd, uintptr(unsafe.Pointer(&efd32)), 1, 0, 0); errno != 0 {
		return nil, errno
	}
	return r, nil
}

// fsync runs fsync(fd) on a kernel worker and waits for its result (the
// call's return value: 0, or -errno) without holding the processor.
func (r *ring) fsync(fd int32) (int32, error) {
	r.seq++
	tail := atomic.LoadUint32(r.sqTail)
	idx := tail & r.sqMask
	e := (*sqe)(unsafe.Add(unsafe.Pointer(r.sqes), uintptr(idx)*unsafe.Sizeof(sqe{})))
	*e = sqe{opcode: opFsync, flags: sqeAsync, fd: fd, userData: r.seq}
	*(*uint32)(unsafe.Add(unsafe.Pointer(r.sqArr), uintptr(idx)*4)) = idx
	atomic.StoreUint32(r.sqTail, tail+1)
	for {
		n, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), 1, 0, 0, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, fmt.Errorf("io_uring_enter: %w", errno)
		}
		if n != 1 {
			return 0, errors.New("io_uring_enter: the fsync was not submitted")
		}
		break
	}
	var buf [8]byte
	for {
		head := atomic.LoadUint32(r.cqHead)
		if head != atomic.LoadUint32(r.cqTail) {
			c := (*cqe)(unsafe.Add(r.cqes, uintptr(head&r.cqMask)*unsafe.Sizeof(cqe{})))
			res, user := c.res, c.userData
			atomic.StoreUint32(r.cqHead, head+1)
			if user == r.seq {
				return res, nil
			}
			continue // a completion of an earlier call that gave up: none do
		}
		// Parks the goroutine in the network poller until the kernel
		// signals a completion.
		if _, err := r.event.Read(buf[:]); err != nil {
			return 0, fmt.Errorf("io_uring eventfd: %w", err)
		}
	}
}

func (r *ring) close() error {
	var errs []error
	if r.event != nil {
		errs = append(errs, r.event.Close())
	}
	if r.sqesMem != nil {
		errs = append(errs, unix.Munmap(r.sqesMem))
	}
	if len(r.cqMem) > 0 && &r.cqMem[0] != &r.sqMem[0] {
		errs = append(errs, unix.Munmap(r.cqMem))
	}
	if r.sqMem != nil {
		errs = append(errs, unix.Munmap(r.sqMem))
	}
	errs = append(errs, unix.Close(r.fd))
	return errors.Join(errs...)
}
