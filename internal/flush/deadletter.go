package flush

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hoard-dev/hoard/internal/disk"
	"github.com/hoard-dev/hoard/sinks"
)

// DeadLetters keeps batches that could not be delivered, one JSON file each
// under <dir>/<store>/<batch>.json, written atomically (temp file, fsync,
// rename, directory fsync). A file is removed only once a replay was
// accepted by the sink. The files are the only state: a DeadLetters is safe
// for concurrent use, and two of them on one dir see the same letters.
type DeadLetters struct {
	dir string
}

// NewDeadLetters returns the dead-letter kept under dir (node: data_dir/
// deadletter). Nothing is created until the first Write.
func NewDeadLetters(dir string) *DeadLetters {
	return &DeadLetters{dir: dir}
}

// Letter is the content of a dead-letter file. Its JSON form is the file
// format, read back by replays after upgrades: do not change it.
type Letter struct {
	Batch    sinks.Batch `json:"batch"`
	Error    string      `json:"error"`    // the last error
	Attempts int         `json:"attempts"` // sink calls made; 0: never tried
	Time     time.Time   `json:"time"`     // when it was dead-lettered
}

func (d *DeadLetters) storeDir(store string) string {
	return filepath.Join(d.dir, store)
}

// Write stores b, which failed with cause after attempts sink calls, as
// <dir>/<b.Store>/<b.ID>.json, replacing a file of the same batch. It
// returns only once the file and its name are on disk. Errors: the
// directory's, the file's, or the encoding's; then no file is left.
func (d *DeadLetters) Write(b sinks.Batch, cause error, attempts int) error {
	dir := d.storeDir(b.Store)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("dead-letter dir: %w", err)
	}
	data, err := json.Marshal(Letter{Batch: b, Error: cause.Error(), Attempts: attempts, Time: time.Now()})
	if err != nil {
		return fmt.Errorf("dead-letter encode: %w", err)
	}
	err = disk.WriteAtomic(filepath.Join(dir, b.ID+".json"), func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return fmt.Errorf("dead-letter: %w", err)
	}
	return nil
}

// Paths lists the dead-letter files of store, sorted by name, that is by
// batch ID (node.boot.seq). Within one boot of a node that is the order the
// batches were made; across restarts the boot ID, random, decides, so it is
// not the order of age: Letter.Time says when each was written. No
// directory means no letters, not an error. The caller owns the slice.
func (d *DeadLetters) Paths(store string) ([]string, error) {
	entries, err := os.ReadDir(d.storeDir(store))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dead-letter dir: %w", err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, filepath.Join(d.storeDir(store), e.Name()))
		}
	}
	slices.Sort(out)
	return out, nil
}

// Read decodes the dead-letter file at path. Errors: the file's, or one
// saying it is corrupt.
func (d *DeadLetters) Read(path string) (Letter, error) {
	var l Letter
	data, err := os.ReadFile(path)
	if err != nil {
		return l, err
	}
	if err := json.Unmarshal(data, &l); err != nil {
		return l, fmt.Errorf("dead-letter %s is corrupt: %w", path, err)
	}
	return l, nil
}

// List reads every dead-letter of store in Paths order. letters[i] was read
// from paths[i]; a file that cannot be read is left out of both and its
// error joined into err, so the rest is returned with it. The caller owns
// the slices.
func (d *DeadLetters) List(store string) (letters []Letter, paths []string, err error) {
	all, err := d.Paths(store)
	if err != nil {
		return nil, nil, err
	}
	var errs []error
	for _, p := range all {
		l, err := d.Read(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		letters = append(letters, l)
		paths = append(paths, p)
	}
	return letters, paths, errors.Join(errs...)
}
