package sinks

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hoard-dev/hoard/internal/fsync"
	"github.com/hoard-dev/hoard/internal/yield"
)

// line is one JSON Lines record: one flushed key.
type line struct {
	Store     string   `json:"store"`
	Kind      Kind     `json:"kind"`
	Key       string   `json:"key"`
	Count     *int64   `json:"count,omitempty"`
	Values    []string `json:"values,omitempty"`
	ValuesB64 []string `json:"values_b64,omitempty"`
	Node      string   `json:"node"`
	Batch     string   `json:"batch"`
	Time      string   `json:"time"`
}

// writeLines writes b as JSON Lines, one object per key. Buffer values are
// strings when every value of the key is valid UTF-8, otherwise all of the
// key's values go base64-encoded under values_b64. Counter lines, which
// come by the hundred thousand, are encoded by hand (appendCountLine,
// byte for byte what encoding/json writes). The encoding pauses every few
// hundred lines (yield.Pacer): on a busy node a flush must not keep the
// writers waiting.
func writeLines(w io.Writer, b *Batch) error {
	var pace yield.Pacer
	ts := b.Time.UTC().Format(time.RFC3339Nano)
	var buf []byte
	head, tail := countLineParts(b, ts)
	for i := range b.Counts {
		buf = appendCountLine(buf, head, tail, &b.Counts[i])
		if len(buf) >= 32<<10 || i == len(b.Counts)-1 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
		if i%yieldEvery == yieldEvery-1 {
			pace.Pause()
		}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	l := line{Store: b.Store, Kind: b.Kind, Node: b.Node, Batch: b.ID, Time: ts}
	for i, v := range b.Values {
		l.Key = v.Key
		l.Values, l.ValuesB64 = encodeValues(v.Values)
		if err := enc.Encode(&l); err != nil {
			return err
		}
		if i%yieldEvery == yieldEvery-1 {
			pace.Pause()
		}
	}
	return nil
}

// yieldEvery is how many lines a flush encodes between two pauses.
const yieldEvery = 512

// countLineParts returns what every counter line of b has before its key
// and after its count.
func countLineParts(b *Batch, ts string) (head, tail []byte) {
	head = append(head, `{"store":`...)
	head = appendJSONString(head, b.Store)
	head = append(head, `,"kind":`...)
	head = appendJSONString(head, string(b.Kind))
	head = append(head, `,"key":`...)
	tail = append(tail, `,"node":`...)
	tail = appendJSONString(tail, b.Node)
	tail = append(tail, `,"batch":`...)
	tail = appendJSONString(tail, b.ID)
	tail = append(tail, `,"time":`...)
	tail = appendJSONString(tail, ts)
	return head, append(tail, "}\n"...)
}

// appendCountLine appends c's line, between head and tail (countLineParts),
// as encoding/json writes a line (with SetEscapeHTML(false)), newline
// included.
func appendCountLine(dst, head, tail []byte, c *Count) []byte {
	dst = append(dst, head...)
	dst = appendJSONString(dst, c.Key)
	dst = append(dst, `,"count":`...)
	dst = strconv.AppendInt(dst, c.Count, 10)
	return append(dst, tail...)
}

// appendJSONString appends s as a JSON string the way encoding/json does
// without HTML escaping: '"', '\\' and control characters escaped, invalid
// UTF-8 replaced by U+FFFD, U+2028 and U+2029 escaped.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func allUTF8(vs [][]byte) bool {
	for _, v := range vs {
		if !utf8.Valid(v) {
			return false
		}
	}
	return true
}

// encodeValues applies the file sink's rule to one key's values: strings
// when every value is valid UTF-8 (an empty, non-nil list for no values),
// otherwise all of them base64-encoded, returned as b64.
func encodeValues(vs [][]byte) (plain, b64 []string) {
	if !allUTF8(vs) {
		b64 = make([]string, len(vs))
		for i, v := range vs {
			b64[i] = base64.StdEncoding.EncodeToString(v)
		}
		return nil, b64
	}
	plain = make([]string, len(vs))
	for i, v := range vs {
		plain[i] = string(v)
	}
	return plain, nil
}

// File appends batches to a file as JSON Lines and fsyncs after each batch,
// so a batch it accepted survives a crash of the machine.
type File struct {
	path string

	// mu guards f.
	mu     sync.Mutex
	f      *os.File
	syncer *fsync.Syncer // fsyncs without holding the processor
}

var _ Borrower = (*File)(nil)

// BorrowsBatches marks the sink as a Borrower: it keeps none of a batch's slices.
func (*File) BorrowsBatches() {}

// NewFile opens (creating, with its directory) the file at path for
// appending.
func NewFile(path string) (*File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("sinks: file %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("sinks: file %s: %w", path, err)
	}
	return &File{path: path, f: f, syncer: fsync.New()}, nil
}

// Flush appends b and fsyncs. A batch that failed half-way is not rolled
// back: readers deduplicate by the batch field, which a retry repeats.
func (s *File) Flush(ctx context.Context, b Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return fmt.Errorf("sinks: file %s: %w", s.path, os.ErrClosed)
	}
	end, err := s.f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("sinks: file %s: %w", s.path, err)
	}
	bw := bufio.NewWriterSize(&writeback{f: s.f, start: end, at: end}, 64<<10)
	if err := writeLines(bw, &b); err != nil {
		return fmt.Errorf("sinks: file %s: %w", s.path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("sinks: file %s: %w", s.path, err)
	}
	if err := s.syncer.Sync(s.f); err != nil {
		return fmt.Errorf("sinks: file %s: fsync: %w", s.path, err)
	}
	return nil
}

// writeback writes to f, which it appends to from offset at, and starts
// the writeback of each mebibyte written as soon as it is (see
// startWriteback).
type writeback struct {
	f         *os.File
	start, at int64 // the first byte not yet handed to the kernel's writeback; the end
}

const writebackBytes = 1 << 20

func (w *writeback) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.at += int64(n)
	if w.at-w.start >= writebackBytes {
		startWriteback(w.f, w.start, w.at-w.start)
		w.start = w.at
	}
	return n, err
}

// Close closes the file. Later flushes fail.
func (s *File) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := errors.Join(s.f.Close(), s.syncer.Close())
	s.f = nil
	return err
}

// Writer writes batches as JSON Lines to an io.Writer: the stdout sink.
type Writer struct {
	// mu guards w.
	mu sync.Mutex
	w  io.Writer
}

var _ Borrower = (*Writer)(nil)

// BorrowsBatches marks the sink as a Borrower: it keeps none of a batch's slices.
func (*Writer) BorrowsBatches() {}

// NewWriter returns a sink writing to w (os.Stdout for the stdout sink).
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Flush writes b.
func (s *Writer) Flush(ctx context.Context, b Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	bw := bufio.NewWriter(s.w)
	return errors.Join(writeLines(bw, &b), bw.Flush())
}
