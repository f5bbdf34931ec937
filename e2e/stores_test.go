//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestStoresThroughAgents sends increments and inserts to all three
// agents, lets the interval and max_size flush some and SIGTERM flush the
// rest, and checks that the file sinks hold exactly what was sent: sums per
// counter key, every value once and in order per buffer key.
func TestStoresThroughAgents(t *testing.T) {
	agents := startAgents(t, 3, `
sink "file" "out" { path = "{dir}/out.jsonl" }
counter "pageviews" {
  sink     = "out"
  interval = "1s"
  jitter   = "200ms"
}
buffer "events" {
  sink     = "out"
  interval = "1s"
  max_size = 4
}`)
	waitMembers(t, agents)
	want := map[string]int64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 60 {
		key := fmt.Sprintf("/page/%d", i%6)
		mu.Lock()
		want[key] += int64(i)
		mu.Unlock()
		wg.Go(func() {
			if _, err := hoardErr("incr", "pageviews", key, fmt.Sprint(i), "--rpc", agents[i%3].rpc); err != nil {
				t.Errorf("incr: %v", err)
			}
		})
		if i%10 == 9 {
			wg.Wait()
		}
	}
	wg.Wait()
	// Inserts, sequential per key so their order is defined.
	wantValues := map[string][]string{}
	for i := range 30 {
		key := fmt.Sprintf("u%d", i%3)
		v := fmt.Sprintf("event-%d", i)
		wantValues[key] = append(wantValues[key], v)
		if _, err := hoardErr("insert", "events", key, v, "--rpc", agents[(i/3)%3].rpc); err != nil {
			t.Fatalf("insert: %v", err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	for _, a := range agents {
		a.terminate(t)
	}
	got := map[string]int64{}
	gotValues := map[string][]string{}
	for _, a := range agents {
		path := filepath.Join(filepath.Dir(a.cmdConfig()), a.name, "out.jsonl")
		f, err := os.Open(path)
		if os.IsNotExist(err) {
			continue // this node owned none of the keys
		}
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var l struct {
				Store, Kind, Key, Node, Batch string
				Count                         int64
				Values                        []string
			}
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("%s: %q: %v", path, sc.Text(), err)
			}
			switch {
			case l.Node != a.name || l.Batch == "":
				t.Fatalf("%s: unexpected line %q", path, sc.Text())
			case l.Store == "pageviews" && l.Kind == "counter":
				got[l.Key] += l.Count
			case l.Store == "events" && l.Kind == "buffer":
				gotValues[l.Key] = append(gotValues[l.Key], l.Values...)
			default:
				t.Fatalf("%s: unexpected line %q", path, sc.Text())
			}
		}
		f.Close()
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s: sinks hold %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
	for k, v := range wantValues {
		if fmt.Sprint(gotValues[k]) != fmt.Sprint(v) {
			t.Fatalf("%s: sinks hold %v, want %v", k, gotValues[k], v)
		}
	}
}
