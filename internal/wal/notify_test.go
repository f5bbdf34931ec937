package wal

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestAppendNotifyCallsOnceWhenDurable: each callback runs exactly once,
// after its record is written (readable), in both sync modes; after Close
// AppendNotify refuses and never calls.
func TestAppendNotifyCallsOnceWhenDurable(t *testing.T) {
	for _, every := range []time.Duration{0, 100 * time.Millisecond} {
		t.Run(fmt.Sprint("sync every ", every), func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, Options{Dir: dir, SyncEvery: every})
			var calls, failed atomic.Int64
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for i := range 100 {
						done := make(chan struct{})
						if _, err := l.AppendNotify([]byte(fmt.Sprintf("g%d-%d", g, i)), doneFunc(func(err error) {
							if err != nil {
								failed.Add(1)
							}
							calls.Add(1)
							close(done) // a second call would panic
						})); err != nil {
							t.Error(err)
							return
						}
						<-done
					}
				})
			}
			wg.Wait()
			if calls.Load() != 800 || failed.Load() != 0 {
				t.Fatalf("%d callbacks, %d failed; want 800, 0", calls.Load(), failed.Load())
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := l.AppendNotify([]byte("late"), doneFunc(func(error) { t.Error("called after Close") })); !errors.Is(err, ErrClosed) {
				t.Fatalf("after Close: %v", err)
			}
			if recs, torn := readAll(t, dir); len(recs) != 800 || len(torn) != 0 {
				t.Fatalf("read back %d records, %d torn", len(recs), len(torn))
			}
		})
	}
}

// doneFunc is a func as a Done.
type doneFunc func(error)

func (f doneFunc) Done(err error) { f(err) }
