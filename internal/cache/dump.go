package cache

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hoard-dev/hoard/internal/disk"
)

// ErrCorruptDump is returned by ReadDump, wrapped with the line it stopped
// at, when a dump file is damaged.
var ErrCorruptDump = errors.New("cache: corrupt dump")

// dumpLine is one cache entry in a dump file (JSON Lines; the value is
// base64, as encoding/json writes bytes). Expires is left out for an entry
// without an expiry, as dumps written before entries had one are.
type dumpLine struct {
	Key     string     `json:"key"`
	Value   []byte     `json:"value"`
	Loaded  time.Time  `json:"loaded"`
	Expires *time.Time `json:"expires,omitempty"`
}

// WriteDump writes entries to path atomically: a temp file in path's
// directory (created if need be), fsync, rename over the previous dump,
// fsync of the directory. One JSON object per line: {"key", "value"
// (base64), "loaded", and "expires" for an entry with an expiry}, each
// entry keeping when it was stored so that it keeps its age when read
// back, and when it expires (an absolute time: the downtime until the
// dump is read counts against it).
func WriteDump(path string, entries []Listed) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return disk.WriteAtomic(path, func(f io.Writer) error {
		w := bufio.NewWriterSize(f, 64<<10)
		enc := json.NewEncoder(w)
		for _, e := range entries {
			l := dumpLine{Key: e.Key, Value: e.Entry.value, Loaded: time.Unix(0, e.Entry.loaded)}
			if e.Entry.expires != 0 {
				exp := time.Unix(0, e.Entry.expires)
				l.Expires = &exp
			}
			if err := enc.Encode(l); err != nil {
				return err
			}
		}
		return w.Flush()
	})
}

// ReadDump reads the dump file at path and calls restore for each entry, in
// the file's order, with when it was stored and when it expires (the zero
// Time for an entry without expiry, and for every entry of a dump written
// before entries had one); restore then decides whether it is still live:
// see Store.Restore. It returns how many lines it read.
//
// A missing file is normal: (0, nil). A line that is not an entry, whose
// key validKey refuses, or longer than maxLine bytes stops the read: the
// error wraps ErrCorruptDump and names the line, and the entries read
// before stay restored (callers log it and go on). Other errors (the file
// cannot be opened) come back as they are. validKey nil accepts every key;
// maxLine zero means 64 KiB (node passes 2*MaxValueBytes+64KiB: a base64
// value and the rest of the line).
func ReadDump(path string, maxLine int, validKey func(string) error, restore func(key string, value []byte, loaded, expires time.Time)) (lines int, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if maxLine <= 0 {
		maxLine = bufio.MaxScanTokenSize
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, min(64<<10, maxLine)), maxLine)
	for sc.Scan() {
		var l dumpLine
		err := json.Unmarshal(sc.Bytes(), &l)
		if err == nil && validKey != nil {
			err = validKey(l.Key)
		}
		if err != nil {
			return lines, fmt.Errorf("%w: %s: line %d: %w", ErrCorruptDump, path, lines+1, err)
		}
		var expires time.Time
		if l.Expires != nil {
			expires = *l.Expires
		}
		restore(l.Key, l.Value, l.Loaded, expires)
		lines++
	}
	if err := sc.Err(); err != nil {
		return lines, fmt.Errorf("%w: %s: line %d: %w", ErrCorruptDump, path, lines+1, err)
	}
	return lines, nil
}
