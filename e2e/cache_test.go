//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCacheThroughAgents reads a cache store with an http loader through
// all three agents: each key is loaded once, at its owner, and served from
// the cache after.
func TestCacheThroughAgents(t *testing.T) {
	var mu sync.Mutex
	hits := map[string]int{}
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, "/users/")
		mu.Lock()
		hits[key]++
		mu.Unlock()
		if key == "ghost" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "profile of %s", key)
	}))
	defer backend.Close()
	agents := startAgents(t, 3, fmt.Sprintf(`
cache "users" {
  loader "http" { url = "%s/users/{key}" }
  ttl = "1h"
}`, backend.URL))
	waitMembers(t, agents)
	// Wait for the rings to agree, so every node routes a key to one owner.
	waitFor(t, 30*time.Second, "the owners to agree", func() error {
		var first string
		for i, a := range agents {
			out, err := hoardErr("owner", "users", "alice", "--rpc", a.rpc, "--format", "json")
			if err != nil {
				return err
			}
			var pl struct{ Owner string }
			if err := json.Unmarshal(out, &pl); err != nil {
				return err
			}
			if i == 0 {
				first = pl.Owner
			} else if pl.Owner != first {
				return fmt.Errorf("%s says %s, %s says %s", agents[0].name, first, a.name, pl.Owner)
			}
		}
		return nil
	})
	for _, key := range []string{"alice", "bob", "carol"} {
		for _, a := range agents {
			out, err := hoardErr("get", "users", key, "--rpc", a.rpc)
			if err != nil {
				t.Fatalf("get %s via %s: %v", key, a.name, err)
			}
			if got := strings.TrimSpace(string(out)); got != "profile of "+key {
				t.Fatalf("get %s via %s = %q", key, a.name, got)
			}
		}
	}
	mu.Lock()
	for _, key := range []string{"alice", "bob", "carol"} {
		if hits[key] != 1 {
			t.Errorf("%s loaded %d times, want 1", key, hits[key])
		}
	}
	mu.Unlock()
	if _, err := hoardErr("get", "users", "ghost", "--rpc", agents[0].rpc); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("get of a missing key: %v", err)
	}
}
