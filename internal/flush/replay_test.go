package flush_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hoard-dev/hoard/sinks"
)

func TestReplay(t *testing.T) {
	tests := []struct {
		name         string
		letters      []string // batch IDs dead-lettered first
		corrupt      string   // a file name holding junk
		fail         string   // the batch the sink refuses
		wantReplayed []string
		wantFailed   []string // prefixes
		wantLeft     []string // file names left
	}{
		{
			name: "nothing to replay",
		},
		{
			name: "delivers in order, keeps IDs and removes the files", letters: []string{id(2), id(1)},
			wantReplayed: []string{id(1), id(2)},
		},
		{
			name: "a refused batch keeps its file", letters: []string{id(1), id(2), id(3)}, fail: id(2),
			wantReplayed: []string{id(1), id(3)}, wantFailed: []string{id(2) + ": 503"},
			wantLeft: []string{id(2) + ".json"},
		},
		{
			name: "a corrupt file is reported and kept", letters: []string{id(1)}, corrupt: "n1.b00t.0000000000.json",
			wantReplayed: []string{id(1)}, wantFailed: []string{"n1.b00t.0000000000.json: dead-letter"},
			wantLeft: []string{"n1.b00t.0000000000.json"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := sinks.NewMemory()
			sink.FailWith(func(b sinks.Batch) error {
				if b.ID == tt.fail {
					return errUnavailable
				}
				return nil
			})
			e := newEnv(t, sink, nil)
			for _, bid := range tt.letters {
				b := sinks.Batch{ID: bid, Store: "pageviews", Kind: sinks.KindCounter, Counts: []sinks.Count{{Key: bid, Count: 1}}}
				if err := e.dl.Write(b, errUnavailable, 3); err != nil {
					t.Fatal(err)
				}
			}
			if tt.corrupt != "" {
				if err := os.WriteFile(filepath.Join(e.dir, "pageviews", tt.corrupt), []byte("{"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			replayed, failed, err := e.p.Replay(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(replayed, tt.wantReplayed) {
				t.Errorf("replayed %v, want %v", replayed, tt.wantReplayed)
			}
			if len(failed) != len(tt.wantFailed) {
				t.Errorf("failed %q, want %q", failed, tt.wantFailed)
			}
			for i := range min(len(failed), len(tt.wantFailed)) {
				if !strings.HasPrefix(failed[i], tt.wantFailed[i]) {
					t.Errorf("failed[%d] = %q, want it to start with %q", i, failed[i], tt.wantFailed[i])
				}
			}
			var got []string
			for _, b := range sink.Batches() {
				got = append(got, b.ID)
				if len(b.Counts) != 1 || b.Counts[0].Key != b.ID {
					t.Errorf("batch %s arrived as %+v", b.ID, b)
				}
			}
			if !slices.Equal(got, tt.wantReplayed) {
				t.Errorf("sink got %v, want %v", got, tt.wantReplayed)
			}
			paths, _ := e.dl.Paths("pageviews")
			var left []string
			for _, p := range paths {
				left = append(left, filepath.Base(p))
			}
			if !slices.Equal(left, tt.wantLeft) {
				t.Errorf("files left %v, want %v", left, tt.wantLeft)
			}
			if st := e.p.Stats(); st.Flushes != int64(len(tt.wantReplayed)) {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestReplayWaitsForFlushLock(t *testing.T) {
	h := newHangingSink()
	e := newEnv(t, h, nil)
	if err := e.dl.Write(sinks.Batch{ID: id(9), Store: "pageviews"}, errUnavailable, 3); err != nil {
		t.Fatal(err)
	}
	release := holdLock(t, e, h)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	replayed, failed, err := e.p.Replay(ctx)
	release()
	if !errors.Is(err, context.Canceled) || replayed != nil || failed != nil {
		t.Errorf("replay while a flush holds the lock: %v, %v, %v", replayed, failed, err)
	}
	if paths, _ := e.dl.Paths("pageviews"); len(paths) != 1 {
		t.Errorf("files %v, want the letter kept", paths)
	}
}
