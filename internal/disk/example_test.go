package disk_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hoard-dev/hoard/internal/disk"
)

func ExampleWriteAtomic() {
	dir, err := os.MkdirTemp("", "disk-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "entries.txt")

	err = disk.WriteAtomic(path, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		for _, line := range []string{"a=1", "b=2"} {
			fmt.Fprintln(bw, line)
		}
		return bw.Flush() // before WriteAtomic fsyncs
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	data, _ := os.ReadFile(path)
	fmt.Print(string(data))
	// Output:
	// a=1
	// b=2
}
