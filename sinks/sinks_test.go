package sinks_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/sinks"
)

var when = time.Date(2026, 11, 21, 12, 0, 0, 123, time.UTC)

func TestFileWritesDesignFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "out.jsonl")
	f, err := sinks.NewFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	counters := sinks.Batch{ID: "n1.ab.1", Store: "pageviews", Kind: sinks.KindCounter, Node: "n1", Time: when,
		Counts: []sinks.Count{{Key: "/home", Count: 42}, {Key: "/neg", Count: -3}}}
	buffers := sinks.Batch{ID: "n1.ab.2", Store: "events", Kind: sinks.KindBuffer, Node: "n1", Time: when,
		Values: []sinks.Values{{Key: "u1", Values: [][]byte{[]byte("a"), []byte("b")}}, {Key: "bin", Values: [][]byte{{0xff, 0x00}, []byte("ok")}}}}
	if err := f.Flush(ctx, counters); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(ctx, buffers); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(ctx, counters); err == nil {
		t.Fatal("flush after close succeeded")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	want := []string{
		`{"store":"pageviews","kind":"counter","key":"/home","count":42,"node":"n1","batch":"n1.ab.1","time":"2026-11-21T12:00:00.000000123Z"}`,
		`{"store":"pageviews","kind":"counter","key":"/neg","count":-3,"node":"n1","batch":"n1.ab.1","time":"2026-11-21T12:00:00.000000123Z"}`,
		`{"store":"events","kind":"buffer","key":"u1","values":["a","b"],"node":"n1","batch":"n1.ab.2","time":"2026-11-21T12:00:00.000000123Z"}`,
		`{"store":"events","kind":"buffer","key":"bin","values_b64":["/wA=","b2s="],"node":"n1","batch":"n1.ab.2","time":"2026-11-21T12:00:00.000000123Z"}`,
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines:\n%s", len(lines), data)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, lines[i], want[i])
		}
	}
	// Base64 values decode back to the bytes.
	var l struct {
		ValuesB64 []string `json:"values_b64"`
	}
	if err := json.Unmarshal([]byte(lines[3]), &l); err != nil {
		t.Fatal(err)
	}
	if b, _ := base64.StdEncoding.DecodeString(l.ValuesB64[0]); !bytes.Equal(b, []byte{0xff, 0}) {
		t.Fatalf("decoded %x", b)
	}
}

func TestFileAppendsAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	b := sinks.Batch{ID: "x", Store: "s", Kind: sinks.KindCounter, Node: "n", Time: when, Counts: []sinks.Count{{Key: "k", Count: 1}}}
	for range 2 {
		f, err := sinks.NewFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Flush(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	n := 0
	for sc := bufio.NewScanner(fh); sc.Scan(); n++ {
	}
	if n != 2 {
		t.Fatalf("%d lines, want 2", n)
	}
}

func TestFileRefusesCanceledContext(t *testing.T) {
	f, err := sinks.NewFile(filepath.Join(t.TempDir(), "out.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Flush(ctx, sinks.Batch{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestWriterAndMemory(t *testing.T) {
	var buf bytes.Buffer
	w := sinks.NewWriter(&buf)
	b := sinks.Batch{ID: "id", Store: "s", Kind: sinks.KindCounter, Node: "n", Time: when, Counts: []sinks.Count{{Key: "k", Count: 2}}}
	if err := w.Flush(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"key":"k","count":2`) {
		t.Fatalf("stdout sink wrote %q", buf.String())
	}

	m := sinks.NewMemory()
	m.FailWith(func(sinks.Batch) error { return errors.New("down") })
	if err := m.Flush(context.Background(), b); err == nil {
		t.Fatal("FailWith ignored")
	}
	m.FailWith(nil)
	changed := m.Changed()
	if err := m.Flush(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Fatal("Changed not closed by an accepted batch")
	}
	if m.Calls() != 2 || len(m.Batches()) != 1 || m.Counts("s")["k"] != 2 {
		t.Fatalf("calls %d batches %d counts %v", m.Calls(), len(m.Batches()), m.Counts("s"))
	}
}

func TestSinkFunc(t *testing.T) {
	var got string
	var s sinks.Sink = sinks.SinkFunc(func(_ context.Context, b sinks.Batch) error {
		got = b.ID
		return nil
	})
	if err := s.Flush(context.Background(), sinks.Batch{ID: "z"}); err != nil || got != "z" {
		t.Fatalf("%q %v", got, err)
	}
}
