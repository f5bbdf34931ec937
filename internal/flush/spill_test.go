package flush_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hoard-dev/hoard/internal/flush"
)

func TestDeadLetterWriteFailureKeepsBatch(t *testing.T) {
	for _, mode := range []flush.Mode{flush.All, flush.Final} {
		t.Run(mode.String(), func(t *testing.T) {
			sink := &scripted{fail: func(n int, _ context.Context) error {
				if n == 1 {
					return errUnavailable
				}
				return nil
			}}
			e := newEnv(t, sink, func(c *flush.Config) {
				c.RetryMax = 1
				c.DeadLetters = flush.NewDeadLetters(fileIn(t)) // a file: no directory can be made under it
			})
			e.src.add("a")
			res, err := e.p.Flush(context.Background(), mode, nil)
			if res != (flush.Result{}) || err == nil || errors.Is(err, flush.ErrDeadLettered) {
				t.Fatalf("flush 1: %+v, %v; want an error other than ErrDeadLettered", res, err)
			}
			if held, settled := e.src.state(); held != 1 || len(settled) != 0 {
				t.Fatalf("held %d, settled %v: the batch left memory without reaching disk", held, settled)
			}
			// Kept in memory: the next flush delivers it.
			res, err = e.p.Flush(context.Background(), mode, nil)
			if err != nil || res != (flush.Result{Batches: 1, Keys: 1}) {
				t.Fatalf("flush 2: %+v, %v", res, err)
			}
			if held, settled := e.src.state(); held != 0 || len(settled) != 1 {
				t.Errorf("held %d, settled %v", held, settled)
			}
			if st := e.p.Stats(); st.DeadLettered != 0 || st.Flushes != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// fileIn returns the path of a new regular file.
func fileIn(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLockHeldByHangingFlush(t *testing.T) {
	tests := []struct {
		name        string
		mode        flush.Mode
		keys        []string // written meanwhile; none: nothing held
		brokenDL    bool
		want        flush.Result
		wantErr     []error
		wantText    string
		wantLetters int
		wantHeld    int64 // ops taken and not settled
		wantTakes   int   // the hanging flush's Take included
	}{
		{
			name: "final flush spills to the dead-letter", mode: flush.Final, keys: []string{"a", "b"},
			want: flush.Result{DeadLettered: 1}, wantErr: []error{flush.ErrDeadLettered, context.Canceled},
			wantLetters: 1, wantTakes: 2,
		},
		{
			name: "final flush with nothing held", mode: flush.Final,
			wantErr: []error{context.Canceled}, wantTakes: 2,
		},
		{
			name: "final flush that cannot spill reports the loss", mode: flush.Final, keys: []string{"a"}, brokenDL: true,
			wantErr: []error{context.Canceled}, wantText: "1 keys lost", wantHeld: 1, wantTakes: 2,
		},
		{
			name: "flush gives up and takes nothing", mode: flush.All, keys: []string{"a"},
			wantErr: []error{context.Canceled}, wantTakes: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHangingSink()
			e := newEnv(t, h, func(c *flush.Config) {
				c.FlushTimeout = 0
				if tt.brokenDL {
					c.DeadLetters = flush.NewDeadLetters(fileIn(t))
				}
			})
			release := holdLock(t, e, h)
			if len(tt.keys) > 0 {
				e.src.add(tt.keys...)
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // the deadline has passed: the lock cannot be had
			res, err := e.p.Flush(ctx, tt.mode, nil)
			release()

			if res != tt.want {
				t.Errorf("result %+v, want %+v", res, tt.want)
			}
			checkErr(t, err, tt.wantErr, tt.wantText)
			if !tt.brokenDL {
				ls := e.letters(t)
				if len(ls) != tt.wantLetters {
					t.Fatalf("%d dead letters, want %d", len(ls), tt.wantLetters)
				}
				for _, l := range ls {
					if l.Attempts != 0 || l.Batch.ID != id(2) || l.Batch.Len() != len(tt.keys) {
						t.Errorf("letter %+v: want batch 2, never tried", l)
					}
				}
			}
			if held, _ := e.src.state(); held != tt.wantHeld {
				t.Errorf("held %d ops, want %d", held, tt.wantHeld)
			}
			if modes, _ := e.src.takeCalls(); len(modes) != tt.wantTakes {
				t.Errorf("Take called for %v, want %d calls", modes, tt.wantTakes)
			}
			select {
			case b := <-h.entered:
				t.Errorf("the sink was given %s; only the hanging flush may call it", b)
			default:
			}
		})
	}
}
