//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/client"
	"github.com/hoard-dev/hoard/internal/ledger"
)

// writers are ring-aware clients that alternate an increment of counter
// store "pv" and an insert of a unique value into buffer store "ev", over
// a set of keys, recording how each op ended in their ledger. Holding pause
// (for writing) stops them between two ops.
type writers struct {
	*ledger.Ledger
	pause sync.RWMutex
	done  chan struct{}
	wg    sync.WaitGroup
}

// startWriters starts n writers over keys keys, seeded with addrs; stop
// ends them.
func startWriters(t *testing.T, n, keys int, addrs ...string) *writers {
	w := &writers{Ledger: ledger.New(), done: make(chan struct{})}
	for id := range n {
		w.wg.Go(func() { w.run(t, id, n, keys, addrs) })
	}
	t.Cleanup(w.stop)
	return w
}

func (w *writers) run(t *testing.T, id, n, keys int, addrs []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	cl, err := client.Dial(ctx, addrs...)
	cancel()
	if err != nil {
		t.Errorf("dial: %v", err)
		return
	}
	defer cl.Close()
	for i := 0; ; i++ {
		select {
		case <-w.done:
			return
		default:
		}
		key := fmt.Sprintf("k%d", (i*n+id)%keys)
		value := fmt.Sprintf("w%d-%d", id, i)
		w.pause.RLock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if i%2 == 0 {
			err = cl.Incr(ctx, "pv", key, 1)
			w.Incr(key, err)
		} else {
			err = cl.Insert(ctx, "ev", key, []byte(value))
			w.Insert(value, err)
		}
		cancel()
		w.pause.RUnlock()
		if err != nil {
			time.Sleep(20 * time.Millisecond) // back off while the cluster changes; not synchronisation
		}
	}
}

// progress waits for n more acknowledged ops.
func (w *writers) progress(t *testing.T, n int64) {
	t.Helper()
	target := w.Acks() + n
	waitFor(t, 60*time.Second, "the writers to make progress", func() error {
		if got := w.Acks(); got < target {
			return fmt.Errorf("%d acks, want %d", got, target)
		}
		return nil
	})
}

// stop ends the writers and waits for them. Idempotent.
func (w *writers) stop() {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
	w.wg.Wait()
}
