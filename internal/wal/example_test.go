package wal_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hoard-dev/hoard/internal/wal"
)

// ExampleOpen appends records, waits until they are durable, and drops a
// segment whose records are no longer needed.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "wal-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	l, err := wal.Open(wal.Options{Dir: filepath.Join(dir, "incarnation-1"), SegmentBytes: 32})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, op := range []string{"incr a 1", "incr b 2", "incr a 3"} {
		t, err := l.Append([]byte(op)) // no I/O: copied into the pending buffer
		if err != nil {
			fmt.Println(err)
			return
		}
		if err := l.Wait(context.Background(), t); err != nil { // written and fsynced
			fmt.Println(err)
			return
		}
		fmt.Printf("%q in segment %d\n", op, t.Segment)
	}
	// The sink committed the ops of segment 1: drop it.
	if err := l.Remove(1); err != nil {
		fmt.Println(err)
	}
	if err := l.Close(); err != nil {
		fmt.Println(err)
	}
	fmt.Println(l.Segments(), l.Size())
	// Output:
	// "incr a 1" in segment 1
	// "incr b 2" in segment 1
	// "incr a 3" in segment 2
	// [{2 16 true}] 16
}

// ExampleRead replays a log at start, cutting a torn tail.
func ExampleRead() {
	dir, err := os.MkdirTemp("", "wal-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	l, err := wal.Open(wal.Options{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, op := range []string{"set k v1", "set k v2"} {
		if _, err := l.Append([]byte(op)); err != nil {
			fmt.Println(err)
		}
	}
	if err := l.Close(); err != nil { // writes what is pending
		fmt.Println(err)
	}
	// A crash in the middle of a write: half a record at the end.
	f, _ := os.OpenFile(filepath.Join(dir, "0000000000000001.wal"), os.O_WRONLY|os.O_APPEND, 0)
	_, _ = f.Write([]byte{8, 0, 0, 0, 1, 2, 3, 4, 's', 'e', 't'})
	_ = f.Close()

	torn, err := wal.Read(dir, func(segment uint64, rec []byte) error {
		fmt.Printf("segment %d: %s\n", segment, rec) // rec is valid only during the call
		return nil
	})
	fmt.Println(torn, err)
	// Output:
	// segment 1: set k v1
	// segment 1: set k v2
	// [{1 32 partial payload false}] <nil>
}
