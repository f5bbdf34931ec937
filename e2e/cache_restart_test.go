//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/client"
)

// TestCacheRestartsReloadLittle restarts three agents holding a cache
// store with dump = true, one after another and then all at once: entries
// move with their partitions and dumps hold what each node held, so the
// cluster reloads at most 5% of its keys from the origin.
func TestCacheRestartsReloadLittle(t *testing.T) {
	var loads atomic.Int64
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		loads.Add(1)
		fmt.Fprintf(w, "profile of %s", strings.TrimPrefix(r.URL.Path, "/users/"))
	}))
	defer backend.Close()
	agents := startAgents(t, 3, fmt.Sprintf(`
cache "users" {
  loader "http" { url = "%s/users/{key}" }
  dump = true
}`, backend.URL))
	for _, a := range agents {
		waitAlive(t, a, 3)
	}
	// Alive is not settled: a partition that moves while its keys load
	// has them not cached (a load ending after its partition went is
	// stale), and held would wait for them in vain.
	waitSameRing(t, agents)
	const keys = 1000
	readAll := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cl, err := client.Dial(ctx, agents[0].rpc, agents[1].rpc, agents[2].rpc)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := w; i < keys; i += 8 {
					k := fmt.Sprintf("user-%d", i)
					v, found, err := cl.Get(ctx, "users", k)
					if err != nil || !found || string(v) != "profile of "+k {
						t.Errorf("get %s: %q, %v, %v", k, v, found, err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	// held waits until the cluster holds every key once, entries handed
	// over included.
	held := func() {
		t.Helper()
		waitFor(t, 30*time.Second, "the cluster to hold every key once", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			cl, err := client.Dial(ctx, agents[0].rpc)
			if err != nil {
				return err
			}
			defer cl.Close()
			infos, err := cl.Info(ctx, "users")
			if err != nil {
				return err
			}
			total := 0
			for _, n := range infos {
				for _, s := range n.Stores {
					total += s.Keys
				}
			}
			if total != keys {
				return fmt.Errorf("%d entries over %d nodes", total, len(infos))
			}
			return nil
		})
	}
	readAll()
	if got := loads.Load(); got != keys {
		t.Fatalf("%d loads for %d keys", got, keys)
	}
	for _, a := range agents { // rolling restart
		a.terminate(t)
		a.launch(t)
		for _, b := range agents {
			waitAlive(t, b, 3)
		}
	}
	held()
	before := loads.Load()
	readAll()
	rolling := loads.Load() - before

	for _, a := range agents { // all at once
		if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range agents {
		<-a.exited
	}
	for _, a := range agents {
		a.launch(t)
	}
	for _, a := range agents {
		waitAlive(t, a, 3)
	}
	held()
	before = loads.Load()
	readAll()
	allAtOnce := loads.Load() - before
	if rolling > keys/20 || allAtOnce > keys/20 {
		t.Errorf("reloaded %d keys after a rolling restart and %d after a restart of all at once, want at most %d", rolling, allAtOnce, keys/20)
	}
	t.Logf("%d keys: reloaded %d after a rolling restart, %d after stopping and starting all three at once", keys, rolling, allAtOnce)
}
