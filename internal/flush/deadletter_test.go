package flush_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/internal/flush"
	"github.com/hoard-dev/hoard/sinks"
)

// TestLetterFileFormat pins the dead-letter file format: files written by
// earlier versions must replay.
func TestLetterFileFormat(t *testing.T) {
	l := flush.Letter{
		Batch: sinks.Batch{
			ID: "n1.0a1b2c3d.0000000007", Store: "pageviews", Kind: sinks.KindCounter, Node: "n1",
			Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Counts: []sinks.Count{{Key: "/home", Count: 3}},
		},
		Error: "503 service unavailable", Attempts: 5, Time: time.Date(2025, 1, 2, 3, 5, 0, 0, time.UTC),
	}
	const want = `{"batch":{"ID":"n1.0a1b2c3d.0000000007","Store":"pageviews","Kind":"counter","Node":"n1",` +
		`"Time":"2025-01-02T03:04:05Z","Counts":[{"Key":"/home","Count":3}],"Values":null},` +
		`"error":"503 service unavailable","attempts":5,"time":"2025-01-02T03:05:00Z"}`
	got, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("encoded\n%s\nwant\n%s", got, want)
	}
}

func TestDeadLettersWriteRead(t *testing.T) {
	tests := []struct {
		name  string
		batch sinks.Batch
	}{
		{"counter", sinks.Batch{ID: "n1.b.0000000001", Store: "pv", Kind: sinks.KindCounter, Counts: []sinks.Count{{Key: "k", Count: -2}}}},
		{"buffer", sinks.Batch{ID: "n1.b.0000000002", Store: "ev", Kind: sinks.KindBuffer, Values: []sinks.Values{{Key: "k", Values: [][]byte{[]byte("x"), {0, 1}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			dl := flush.NewDeadLetters(dir)
			before := time.Now()
			if err := dl.Write(tt.batch, errUnavailable, 2); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, tt.batch.Store, tt.batch.ID+".json")
			l, err := dl.Read(path)
			if err != nil {
				t.Fatal(err)
			}
			gotB, _ := json.Marshal(l.Batch)
			wantB, _ := json.Marshal(tt.batch)
			if string(gotB) != string(wantB) || l.Error != errUnavailable.Error() || l.Attempts != 2 || l.Time.Before(before) {
				t.Errorf("read back %+v", l)
			}
			// Nothing but the letter is left in the directory.
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 1 {
				t.Errorf("directory holds %d entries", len(entries))
			}
		})
	}
}

func TestDeadLettersPaths(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dl *flush.DeadLetters, storeDir string)
		want  []string // file names, in order
	}{
		{
			name:  "no directory",
			setup: func(*testing.T, *flush.DeadLetters, string) {},
		},
		{
			name: "sorted by batch ID, whatever the write order",
			setup: func(t *testing.T, dl *flush.DeadLetters, _ string) {
				for _, id := range []string{"n1.bbbb.0000000010", "n1.aaaa.0000000002", "n1.bbbb.0000000009"} {
					if err := dl.Write(sinks.Batch{ID: id, Store: "pv"}, errUnavailable, 1); err != nil {
						t.Fatal(err)
					}
				}
			},
			want: []string{"n1.aaaa.0000000002.json", "n1.bbbb.0000000009.json", "n1.bbbb.0000000010.json"},
		},
		{
			name: "only letters: no temp files, other files or directories",
			setup: func(t *testing.T, dl *flush.DeadLetters, storeDir string) {
				if err := dl.Write(sinks.Batch{ID: "n1.b.0000000001", Store: "pv"}, errUnavailable, 1); err != nil {
					t.Fatal(err)
				}
				for _, name := range []string{".tmp-123", ".hidden.json", "notes.txt"} {
					if err := os.WriteFile(filepath.Join(storeDir, name), nil, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.Mkdir(filepath.Join(storeDir, "dir.json"), 0o755); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"n1.b.0000000001.json"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			dl := flush.NewDeadLetters(dir)
			tt.setup(t, dl, filepath.Join(dir, "pv"))
			paths, err := dl.Paths("pv")
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range paths {
				if filepath.Dir(p) != filepath.Join(dir, "pv") {
					t.Errorf("path %s outside the store's directory", p)
				}
				names = append(names, filepath.Base(p))
			}
			if !slices.Equal(names, tt.want) {
				t.Errorf("paths %v, want %v", names, tt.want)
			}
		})
	}
}

func TestDeadLettersListSkipsCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	dl := flush.NewDeadLetters(dir)
	for _, id := range []string{"n1.b.0000000001", "n1.b.0000000003"} {
		if err := dl.Write(sinks.Batch{ID: id, Store: "pv"}, errUnavailable, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "pv", "n1.b.0000000002.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	letters, paths, err := dl.List("pv")
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("error %v, want one naming the corrupt file", err)
	}
	if len(letters) != 2 || len(paths) != 2 {
		t.Fatalf("%d letters, %d paths, want 2 each", len(letters), len(paths))
	}
	for i, l := range letters {
		if filepath.Base(paths[i]) != l.Batch.ID+".json" {
			t.Errorf("letter %s read from %s", l.Batch.ID, paths[i])
		}
	}
}

func TestDeadLettersWriteFailure(t *testing.T) {
	dl := flush.NewDeadLetters(fileIn(t))
	err := dl.Write(sinks.Batch{ID: "n1.b.0000000001", Store: "pv"}, errUnavailable, 1)
	if err == nil {
		t.Fatal("wrote a dead letter under a regular file")
	}
	if _, err := dl.Paths("pv"); err == nil || errors.Is(err, os.ErrNotExist) {
		t.Errorf("Paths under a regular file: %v, want an error", err)
	}
}
