//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestHTTPSinkThroughAgents flushes counters from three agents to an HTTP
// endpoint: every batch carries its ID as Idempotency-Key, a 503 with
// Retry-After is retried, and the sums are exact after SIGTERM.
func TestHTTPSinkThroughAgents(t *testing.T) {
	var mu sync.Mutex
	sums := map[string]int64{}
	seen := map[string]bool{}
	refusedOnce := false
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var b struct {
			Batch  string
			Counts []struct {
				Key   string
				Count int64
			}
		}
		if err := json.Unmarshal(body, &b); err != nil || b.Batch == "" || r.Header.Get("Idempotency-Key") != b.Batch {
			http.Error(w, "bad batch", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !refusedOnce {
			refusedOnce = true
			w.Header().Set("Retry-After", "1")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		if seen[b.Batch] {
			return // idempotent: a batch already applied is acknowledged, not applied again
		}
		seen[b.Batch] = true
		for _, c := range b.Counts {
			sums[c.Key] += c.Count
		}
	}))
	defer endpoint.Close()
	agents := startAgents(t, 3, fmt.Sprintf(`
sink "http" "api" { url = "%s/ingest" }
counter "pageviews" {
  sink        = "api"
  interval    = "1h"
  retry_delay = "100ms"
}`, endpoint.URL))
	waitMembers(t, agents)
	want := map[string]int64{}
	for i := range 30 {
		key := fmt.Sprintf("/p/%d", i%5)
		want[key] += int64(i)
		if _, err := hoardErr("incr", "pageviews", key, fmt.Sprint(i), "--rpc", agents[i%3].rpc); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range agents {
		a.terminate(t)
	}
	mu.Lock()
	defer mu.Unlock()
	for k, v := range want {
		if sums[k] != v {
			t.Fatalf("%s: endpoint got %d, want %d (all %v)", k, sums[k], v, sums)
		}
	}
}
