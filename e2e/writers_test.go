//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/client"
)

// writers are ring-aware clients that alternate an increment of counter
// store "pv" and an insert of a unique value into buffer store "ev", over
// a set of keys, counting each op as acknowledged or, when its outcome is
// unknown, as maybe applied. Holding pause (for writing) stops them between
// two ops.
type writers struct {
	pause sync.RWMutex

	// mu guards acked, maybe and values.
	mu     sync.Mutex
	acked  map[string]int64 // increments acknowledged per key
	maybe  map[string]int64 // increments whose outcome is unknown per key
	values map[string]bool  // every value sent: true acknowledged, false unknown

	acks, unknown atomic.Int64
	done          chan struct{}
	wg            sync.WaitGroup
}

// startWriters starts n writers over keys keys, seeded with addrs; stop
// ends them.
func startWriters(t *testing.T, n, keys int, addrs ...string) *writers {
	w := &writers{acked: map[string]int64{}, maybe: map[string]int64{}, values: map[string]bool{}, done: make(chan struct{})}
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
		} else {
			err = cl.Insert(ctx, "ev", key, []byte(value))
		}
		cancel()
		w.pause.RUnlock()
		w.mu.Lock()
		switch {
		case err == nil && i%2 == 0:
			w.acked[key]++
			w.acks.Add(1)
		case err == nil:
			w.values[value] = true
			w.acks.Add(1)
		case errors.Is(err, client.ErrIndeterminate) || errors.Is(err, context.DeadlineExceeded):
			w.unknown.Add(1)
			if i%2 == 0 {
				w.maybe[key]++
			} else {
				w.values[value] = false // may or may not be there; never twice
			}
		}
		w.mu.Unlock()
		if err != nil {
			time.Sleep(20 * time.Millisecond) // back off while the cluster changes; not synchronisation
		}
	}
}

// progress waits for n more acknowledged ops.
func (w *writers) progress(t *testing.T, n int64) {
	t.Helper()
	target := w.acks.Load() + n
	waitFor(t, 60*time.Second, "the writers to make progress", func() error {
		if got := w.acks.Load(); got < target {
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
