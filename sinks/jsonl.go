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
	"sync"
	"time"
	"unicode/utf8"
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
// key's values go base64-encoded under values_b64.
func writeLines(w io.Writer, b *Batch) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	ts := b.Time.UTC().Format(time.RFC3339Nano)
	l := line{Store: b.Store, Kind: b.Kind, Node: b.Node, Batch: b.ID, Time: ts}
	for i := range b.Counts {
		l.Key, l.Count = b.Counts[i].Key, &b.Counts[i].Count
		if err := enc.Encode(&l); err != nil {
			return err
		}
	}
	l.Count = nil
	for _, v := range b.Values {
		l.Key = v.Key
		l.Values, l.ValuesB64 = encodeValues(v.Values)
		if err := enc.Encode(&l); err != nil {
			return err
		}
	}
	return nil
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
	mu sync.Mutex
	f  *os.File
}

var _ Sink = (*File)(nil)

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
	return &File{path: path, f: f}, nil
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
	bw := bufio.NewWriterSize(s.f, 64<<10)
	if err := writeLines(bw, &b); err != nil {
		return fmt.Errorf("sinks: file %s: %w", s.path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("sinks: file %s: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("sinks: file %s: fsync: %w", s.path, err)
	}
	return nil
}

// Close closes the file. Later flushes fail.
func (s *File) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// Writer writes batches as JSON Lines to an io.Writer: the stdout sink.
type Writer struct {
	// mu guards w.
	mu sync.Mutex
	w  io.Writer
}

var _ Sink = (*Writer)(nil)

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
