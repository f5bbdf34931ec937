package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hoard-dev/hoard/sinks"
)

// deadLetters keeps batches that could not be delivered as one JSON file
// each under <data_dir>/deadletter/<store>/<batch>.json, written atomically
// (temp file, fsync, rename). A file is removed only once a replay was
// accepted by the sink.
type deadLetters struct {
	dir string
}

// letter is the content of a dead-letter file.
type letter struct {
	Batch    sinks.Batch `json:"batch"`
	Error    string      `json:"error"`
	Attempts int         `json:"attempts"`
	Time     time.Time   `json:"time"`
}

// DeadLetter describes one dead-lettered batch.
type DeadLetter struct {
	Store    string
	Batch    string
	Kind     string
	Keys     int
	Time     time.Time // when it was dead-lettered
	Attempts int
	Error    string // the last error
	Path     string
}

func (d *deadLetters) storeDir(store string) string {
	return filepath.Join(d.dir, store)
}

func (d *deadLetters) write(b sinks.Batch, cause error, attempts int) error {
	dir := d.storeDir(b.Store)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("dead-letter dir: %w", err)
	}
	data, err := json.Marshal(letter{Batch: b, Error: cause.Error(), Attempts: attempts, Time: time.Now()})
	if err != nil {
		return fmt.Errorf("dead-letter encode: %w", err)
	}
	final := filepath.Join(dir, b.ID+".json")
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("dead-letter: %w", err)
	}
	_, werr := tmp.Write(data)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("dead-letter write: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("dead-letter rename: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// paths lists the dead-letter files of store, oldest batch first.
func (d *deadLetters) paths(store string) ([]string, error) {
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

func (d *deadLetters) read(path string) (letter, error) {
	var l letter
	data, err := os.ReadFile(path)
	if err != nil {
		return l, err
	}
	if err := json.Unmarshal(data, &l); err != nil {
		return l, fmt.Errorf("dead-letter %s is corrupt: %w", path, err)
	}
	return l, nil
}
