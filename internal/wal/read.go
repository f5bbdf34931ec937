package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksum is the CRC-32C of a record's payload.
func checksum(p []byte) uint32 { return crc32.Checksum(p, castagnoli) }

// segmentSuffix ends every segment file name: %016d.wal.
const segmentSuffix = ".wal"

// segmentName is the file name of segment n.
func segmentName(n uint64) string { return fmt.Sprintf("%016d%s", n, segmentSuffix) }

// segmentNumber parses a segment file name; false for any other name.
func segmentNumber(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok || len(digits) != 16 {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil && n > 0
}

// segmentNames returns the segment numbers in dir, ascending; none for a
// missing dir.
func segmentNames(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	var ns []uint64
	for _, e := range entries {
		if n, ok := segmentNumber(e.Name()); ok && e.Type().IsRegular() {
			ns = append(ns, n)
		}
	}
	slices.Sort(ns)
	return ns, nil
}

// Torn reports a segment's torn tail that Read cut.
type Torn struct {
	Segment uint64
	Offset  int64  // where the torn record began: the segment's size now
	Reason  string // "partial length", "partial payload", "crc mismatch" or "zero length"
	// Sealed is set when the damage is not in the log's last segment: a
	// crash tears only the tail of the log, so this is corruption (a bad
	// disk, a hand edit). The file is kept as it is.
	Sealed bool
}

// Read reads every record of the log in dir, segment by segment in order,
// calling fn with each record's segment and payload; the payload is valid
// only during the call. A segment's torn tail (a partial length, a length
// running past the end of the file, a CRC mismatch, or a zero length, as
// a zero-filled tail reads) is cut if it is the log's last segment, where
// a crash tears: the file is truncated at the last whole record and
// fsynced, so that no later read sees it. Damage in an earlier segment is
// corruption, not a crash: that file is kept. Both are reported in the
// returned list; reading goes on with the next segment. If fn returns
// an error, Read stops and returns it as is. A missing dir holds nothing
// to read. Read must not run while a Log writes to dir.
func Read(dir string, fn func(segment uint64, rec []byte) error) ([]Torn, error) {
	return read(dir, fn, false)
}

// ReadLive reads the records of a log that a Log may still be writing, as
// Read does, but changes nothing: the last segment's tail, which may be a
// record being written, ends the read without being reported or cut, and a
// segment removed meanwhile (Log.Remove) is skipped. Damage in an earlier
// segment is reported as by Read. Records appended after a Wait that
// returned before ReadLive began are all read.
func ReadLive(dir string, fn func(segment uint64, rec []byte) error) ([]Torn, error) {
	return read(dir, fn, true)
}

func read(dir string, fn func(segment uint64, rec []byte) error, live bool) ([]Torn, error) {
	ns, err := segmentNames(dir)
	if err != nil {
		return nil, err
	}
	var torn []Torn
	var buf []byte
	for i, n := range ns {
		var t *Torn
		last := i == len(ns)-1
		t, buf, err = readSegment(filepath.Join(dir, segmentName(n)), n, buf, last && !live, fn)
		if live && errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return torn, err
		}
		if live && last {
			t = nil
		}
		if t != nil {
			torn = append(torn, *t)
		}
	}
	return torn, nil
}

// errCallback wraps the error of Read's fn, to tell it from the file
// system's.
type errCallback struct{ err error }

func (e errCallback) Error() string { return e.err.Error() }

// readSegment reads segment n's records into fn, with buf as the payload
// buffer (returned, maybe grown, for the next segment), and cuts a torn
// tail if the segment is the log's last; a damaged earlier segment is
// reported and kept.
func readSegment(path string, n uint64, buf []byte, last bool, fn func(uint64, []byte) error) (*Torn, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, buf, fmt.Errorf("wal: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, buf, fmt.Errorf("wal: %w", err)
	}
	off, reason, buf, err := scan(bufio.NewReaderSize(f, 64<<10), fi.Size(), n, buf, fn)
	if err != nil {
		var cb errCallback
		if errors.As(err, &cb) {
			return nil, buf, cb.err
		}
		return nil, buf, fmt.Errorf("wal: read %s: %w", path, err)
	}
	if reason == "" {
		return nil, buf, nil
	}
	if !last {
		return &Torn{Segment: n, Offset: off, Reason: reason, Sealed: true}, buf, nil
	}
	if err := cut(path, off); err != nil {
		return nil, buf, err
	}
	return &Torn{Segment: n, Offset: off, Reason: reason}, buf, nil
}

// cut truncates the file at path to size bytes, durably.
func cut(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("wal: cut torn tail: %w", err)
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("wal: cut torn tail: %w", err)
	}
	return nil
}

// scan reads the records of a segment of size bytes from r, calling fn
// with each. It returns the offset after the last whole record and, if
// the segment goes on past it, why that is torn.
func scan(r io.Reader, size int64, n uint64, buf []byte, fn func(uint64, []byte) error) (int64, string, []byte, error) {
	var h [headerBytes]byte
	off := int64(0)
	for off < size {
		if size-off < headerBytes {
			return off, "partial length", buf, nil
		}
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return off, "", buf, err
		}
		length := int64(binary.LittleEndian.Uint32(h[:4]))
		switch {
		case length == 0:
			return off, "zero length", buf, nil
		case length > size-off-headerBytes:
			return off, "partial payload", buf, nil
		}
		if int64(cap(buf)) < length {
			buf = make([]byte, length)
		}
		p := buf[:length]
		if _, err := io.ReadFull(r, p); err != nil {
			return off, "", buf, err
		}
		if checksum(p) != binary.LittleEndian.Uint32(h[4:]) {
			return off, "crc mismatch", buf, nil
		}
		if err := fn(n, p); err != nil {
			return off, "", buf, errCallback{err}
		}
		off += headerBytes + length
	}
	return off, "", buf, nil
}
