package cache

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// restored is one call of ReadDump's restore.
type restored struct {
	key     string
	value   string
	loaded  time.Time
	expires time.Time
}

func TestDumpRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		entries map[string]string // key: value, partition 0
	}{
		{"empty", nil},
		{"one", map[string]string{"a": "1"}},
		{"awkward bytes", map[string]string{"a": "", "b\n\"c": "\x00\xff\n{\"key\"}", "ü": strings.Repeat("x", 100<<10)}},
		{"many", manyEntries(500)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, now := newTestStore(Config{Partitions: 3, TTL: time.Hour})
			i := 0
			for k, v := range tt.entries {
				now.Add(int64(time.Second)) // a different age for each
				if i%2 == 0 {
					c.Set(i%3, k, []byte(v))
				} else {
					c.SetTTL(i%3, k, []byte(v), time.Duration(i)*time.Hour)
				}
				i++
			}
			path := filepath.Join(t.TempDir(), "cache", "users.dump") // WriteDump makes the directory
			if err := WriteDump(path, c.List()); err != nil {
				t.Fatal(err)
			}
			var got []restored
			lines, err := ReadDump(path, 2*(100<<10)+64<<10, nil, func(key string, value []byte, loaded, expires time.Time) {
				got = append(got, restored{key, string(value), loaded, expires})
			})
			if err != nil || lines != len(tt.entries) || len(got) != lines {
				t.Fatalf("ReadDump = %d, %v with %d restored; want %d entries", lines, err, len(got), len(tt.entries))
			}
			entryOf := map[string]*Entry{}
			for _, l := range c.List() {
				entryOf[l.Key] = l.Entry
			}
			for _, r := range got {
				e := entryOf[r.key]
				if want, ok := tt.entries[r.key]; !ok || r.value != want || !r.loaded.Equal(e.Loaded()) || !r.expires.Equal(e.Expires()) {
					t.Fatalf("restored %q = %q loaded %v expiring %v; want %q loaded %v expiring %v", r.key, r.value, r.loaded, r.expires, want, e.Loaded(), e.Expires())
				}
			}
			// No temp file is left next to the dump.
			names, _ := os.ReadDir(filepath.Dir(path))
			if len(names) != 1 {
				t.Fatalf("dump directory holds %v", names)
			}
		})
	}
}

// TestDumpFormat pins the file format: JSON Lines of {"key", "value"
// (base64), "loaded" (RFC 3339)}, which dumps of earlier versions use, and
// "expires" (RFC 3339) for an entry set with a TTL only.
func TestDumpFormat(t *testing.T) {
	c, _ := newTestStore(Config{Partitions: 1})
	c.Set(0, "user:1", []byte("Ada"))
	c.SetTTL(0, "user:2", []byte("Bob"), 90*time.Second)
	path := filepath.Join(t.TempDir(), "users.dump")
	if err := WriteDump(path, c.List()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rfc := func(t time.Time) string { return time.Unix(0, t.UnixNano()).Format(time.RFC3339Nano) }
	want := []string{
		fmt.Sprintf(`{"key":"user:1","value":%q,"loaded":%q}`, base64.StdEncoding.EncodeToString([]byte("Ada")), rfc(base)),
		fmt.Sprintf(`{"key":"user:2","value":%q,"loaded":%q,"expires":%q}`, base64.StdEncoding.EncodeToString([]byte("Bob")), rfc(base), rfc(base.Add(90*time.Second))),
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	slices.Sort(lines) // List's order is the map's
	if !slices.Equal(lines, want) {
		t.Fatalf("dump is\n%s\nwant\n%s", b, strings.Join(want, "\n"))
	}
}

// TestDumpOfAnEarlierVersionReads: a dump written before entries had an
// expiry reads, its entries without one.
func TestDumpOfAnEarlierVersionReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.dump")
	line, _ := json.Marshal(map[string]any{"key": "old", "value": []byte("from a dump"), "loaded": base.Add(-3 * time.Hour)})
	if err := os.WriteFile(path, append(line, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	c, now := newTestStore(Config{Partitions: 1})
	var got []restored
	if _, err := ReadDump(path, 0, nil, func(k string, v []byte, l, exp time.Time) {
		got = append(got, restored{k, string(v), l, exp})
		c.Restore(0, k, v, l, exp)
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].key != "old" || got[0].value != "from a dump" || !got[0].loaded.Equal(base.Add(-3*time.Hour)) || !got[0].expires.IsZero() {
		t.Fatalf("read %+v", got)
	}
	now.Add(int64(1000 * time.Hour))
	if v, ok := c.Get(0, "old"); !ok || string(v) != "from a dump" {
		t.Fatalf("the entry of an earlier dump reads as %q, %v after 1000h; want it kept, without expiry", v, ok)
	}
}

func TestWriteDumpReplacesThePrevious(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users.dump")
	c := New(Config{Partitions: 1})
	c.Set(0, "a", []byte("1"))
	c.Set(0, "b", []byte("2"))
	if err := WriteDump(path, c.List()); err != nil {
		t.Fatal(err)
	}
	c.Delete(0, "a")
	if err := WriteDump(path, c.List()); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if _, err := ReadDump(path, 0, nil, func(k string, _ []byte, _, _ time.Time) { keys = append(keys, k) }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{"b"}) {
		t.Fatalf("second dump holds %v", keys)
	}
	if names, _ := os.ReadDir(dir); len(names) != 1 {
		t.Fatalf("dump directory holds %v", names)
	}
}

func TestWriteDumpFails(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The dump's directory is a file.
	if err := WriteDump(filepath.Join(file, "users.dump"), nil); err == nil {
		t.Fatal("WriteDump under a file succeeded")
	}
	// The dump's path is a directory: the rename fails, the temp file goes.
	if err := os.Mkdir(filepath.Join(dir, "users.dump"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteDump(filepath.Join(dir, "users.dump"), nil); err == nil {
		t.Fatal("WriteDump over a directory succeeded")
	}
	if names, _ := os.ReadDir(dir); len(names) != 2 {
		t.Fatalf("a failed dump left %v", names)
	}
}

func dumpLineOf(key, value string) string {
	b, _ := json.Marshal(dumpLine{Key: key, Value: []byte(value), Loaded: base})
	return string(b) + "\n"
}

func TestReadDump(t *testing.T) {
	noColon := func(k string) error {
		if strings.Contains(k, ":") {
			return errors.New("a key with a colon")
		}
		return nil
	}
	tests := []struct {
		name      string
		content   *string // nil: no file
		maxLine   int
		validKey  func(string) error
		wantKeys  []string
		wantLines int
		wantErr   string // "" none; else the error wraps ErrCorruptDump and has this
	}{
		{name: "missing file", content: nil},
		{name: "empty file", content: ptr("")},
		{name: "entries in order", content: ptr(dumpLineOf("a", "1") + dumpLineOf("b", "2") + dumpLineOf("c", "3")),
			wantKeys: []string{"a", "b", "c"}, wantLines: 3},
		{name: "no final newline", content: ptr(strings.TrimSuffix(dumpLineOf("a", "1")+dumpLineOf("b", "2"), "\n")),
			wantKeys: []string{"a", "b"}, wantLines: 2},
		{name: "corrupt tail keeps the entries before", content: ptr(dumpLineOf("a", "1") + dumpLineOf("b", "2") + `{"key":"c","val`),
			wantKeys: []string{"a", "b"}, wantLines: 2, wantErr: "line 3"},
		{name: "corrupt middle stops the read", content: ptr(dumpLineOf("a", "1") + "garbage\n" + dumpLineOf("c", "3")),
			wantKeys: []string{"a"}, wantLines: 1, wantErr: "line 2"},
		{name: "blank line is corrupt", content: ptr(dumpLineOf("a", "1") + "\n" + dumpLineOf("c", "3")),
			wantKeys: []string{"a"}, wantLines: 1, wantErr: "line 2"},
		{name: "bad base64 is corrupt", content: ptr(`{"key":"a","value":"!!","loaded":"2025-01-01T00:00:00Z"}` + "\n"),
			wantErr: "line 1"},
		{name: "invalid key is corrupt", content: ptr(dumpLineOf("a", "1") + dumpLineOf("b:1", "2") + dumpLineOf("c", "3")),
			validKey: noColon, wantKeys: []string{"a"}, wantLines: 1, wantErr: "a key with a colon"},
		{name: "line over maxLine is corrupt", content: ptr(dumpLineOf("a", "1") + dumpLineOf("big", strings.Repeat("x", 300)) + dumpLineOf("c", "3")),
			maxLine: 200, wantKeys: []string{"a"}, wantLines: 1, wantErr: "line 2"},
		{name: "line under maxLine reads", content: ptr(dumpLineOf("big", strings.Repeat("x", 300))),
			maxLine: 600, wantKeys: []string{"big"}, wantLines: 1},
		{name: "zero maxLine is 64KiB", content: ptr(dumpLineOf("a", strings.Repeat("x", 40<<10)) + dumpLineOf("b", strings.Repeat("x", 50<<10))),
			wantKeys: []string{"a"}, wantLines: 1, wantErr: "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "users.dump")
			if tt.content != nil {
				if err := os.WriteFile(path, []byte(*tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			c := New(Config{Partitions: 1})
			var keys []string
			lines, err := ReadDump(path, tt.maxLine, tt.validKey, func(k string, v []byte, l, exp time.Time) {
				keys = append(keys, k)
				c.Restore(0, k, v, l, exp)
			})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("ReadDump: %v", err)
			case tt.wantErr != "" && (!errors.Is(err, ErrCorruptDump) || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("ReadDump error %v, want ErrCorruptDump with %q", err, tt.wantErr)
			}
			if lines != tt.wantLines || !slices.Equal(keys, tt.wantKeys) || c.Len() != len(tt.wantKeys) {
				t.Fatalf("ReadDump read %d lines, restored %v (store holds %d); want %d, %v", lines, keys, c.Len(), tt.wantLines, tt.wantKeys)
			}
		})
	}
}

func TestReadDumpCannotOpen(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := ReadDump(filepath.Join(file, "users.dump"), 0, nil, func(string, []byte, time.Time, time.Time) {})
	if err == nil || errors.Is(err, ErrCorruptDump) || n != 0 {
		t.Fatalf("ReadDump under a file = %d, %v; want an error that is not ErrCorruptDump", n, err)
	}
}

func ptr(s string) *string { return &s }

// FuzzReadDump feeds ReadDump any file: it must not panic, and restores
// exactly the lines it reports.
func FuzzReadDump(f *testing.F) {
	f.Add([]byte(dumpLineOf("a", "1") + dumpLineOf("b", "2")))
	f.Add([]byte(dumpLineOf("a", "1") + `{"key":"c","val`))
	f.Add([]byte("\n\n{}\n"))
	f.Add([]byte(`{"key":1}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "users.dump")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		calls := 0
		lines, err := ReadDump(path, 1<<10, nil, func(string, []byte, time.Time, time.Time) { calls++ })
		if calls != lines {
			t.Fatalf("restore called %d times for %d lines", calls, lines)
		}
		if err != nil && !errors.Is(err, ErrCorruptDump) {
			t.Fatalf("error %v does not wrap ErrCorruptDump", err)
		}
		if most := bytes.Count(data, []byte("\n")) + 1; lines > most {
			t.Fatalf("%d lines read from %d", lines, most)
		}
	})
}
