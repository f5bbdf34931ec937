package fsync

import (
	"testing"
	"unsafe"
)

// The ring's structures must match the kernel's (include/uapi/linux/io_uring.h).
func TestRingStructuresMatchTheKernel(t *testing.T) {
	for name, got := range map[string]uintptr{
		"io_uring_params": unsafe.Sizeof(params{}),
		"io_uring_sqe":    unsafe.Sizeof(sqe{}),
		"io_uring_cqe":    unsafe.Sizeof(cqe{}),
	} {
		want := map[string]uintptr{"io_uring_params": 120, "io_uring_sqe": 64, "io_uring_cqe": 16}[name]
		if got != want {
			t.Errorf("%s: %d bytes, want %d", name, got, want)
		}
	}
}
