package disk

import (
	"errors"
	"io"
	"os"
	"path/filepath"
)

// SyncDir fsyncs the directory dir, so that a file created, renamed or
// removed in it stays so after a crash. Errors are the *os.PathError of
// opening, syncing or closing dir.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// WriteAtomic replaces the file at path with what write writes: write gets
// a temp file in path's directory (which must exist), which is then
// fsynced, closed, renamed over path, and the directory fsynced. It returns
// only once the content and the name are on disk. On any error before the
// rename the temp file is removed and path is left as it was; the error is
// write's own, or the *os.PathError or *os.LinkError of the file system. If
// only the final SyncDir fails the new file is in place but may not survive
// a crash. write must not keep the io.Writer; buffering is up to it (a
// bufio.Writer must be flushed before write returns).
func WriteAtomic(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	werr := write(tmp)
	if werr == nil {
		werr = tmp.Sync()
	}
	if err := errors.Join(werr, tmp.Close()); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return SyncDir(filepath.Dir(path))
}
