//go:build unix

package counter

import "syscall"

// mapAnon maps size bytes of zeroed, private memory, or returns nil.
func mapAnon(size int) []byte {
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil
	}
	return mem
}

func unmap(mem []byte) { _ = syscall.Munmap(mem) }
