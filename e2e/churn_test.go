//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestChurnWithAgents runs the churn of issue 6 with real processes: writers
// send increments and inserts continuously while 3 agents become 5 (two
// joins), 3 again (two SIGTERM leaves), and the original three restart one
// by one. Afterwards the file sinks hold, per key, exactly the acknowledged
// increments, and every acknowledged value exactly once.
func TestChurnWithAgents(t *testing.T) {
	dir := t.TempDir()
	stores := `
sink "file" "out" { path = "{dir}/out.jsonl" }
counter "pv" {
  sink     = "out"
  interval = "1s"
}
buffer "ev" {
  sink     = "out"
  interval = "1s"
}`
	var all []*agent
	mk := func(join string) *agent {
		a := &agent{
			name:   fmt.Sprintf("n%d", len(all)+1),
			gossip: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			rpc:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			http:   fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		}
		joinLine := ""
		if join != "" {
			joinLine = fmt.Sprintf("join = [%q]", join)
		}
		data := filepath.Join(dir, a.name)
		cfg := fmt.Sprintf("name = %q\nbind_addr = %q\nrpc_addr = %q\nhttp_addr = %q\n%s\ndata_dir = %q\n%s\n",
			a.name, a.gossip, a.rpc, a.http, joinLine, data, bytes.ReplaceAll([]byte(stores), []byte("{dir}"), []byte(data)))
		a.config = filepath.Join(dir, a.name+".hcl")
		if err := os.WriteFile(a.config, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		all = append(all, a)
		return a
	}
	t.Cleanup(func() {
		for _, a := range all {
			if a.cmd == nil {
				continue
			}
			select {
			case <-a.exited:
			default:
				_ = a.cmd.Process.Kill()
				<-a.exited
			}
			if t.Failed() {
				t.Logf("--- log of %s ---\n%s", a.name, a.log)
			}
		}
	})

	n1 := mk("")
	n1.launch(t)
	for range 2 {
		mk(n1.gossip).launch(t)
	}
	waitAlive(t, n1, 3)

	// Writers: ring-aware clients seeded with the original three, which
	// keep their addresses across restarts.
	wr := startWriters(t, 4, 40, all[0].rpc, all[1].rpc, all[2].rpc)
	progress := func() { wr.progress(t, 300) }
	progress()
	for range 2 { // 3 -> 5
		mk(n1.gossip).launch(t)
		waitAlive(t, n1, len(all))
		progress()
	}
	for _, a := range []*agent{all[4], all[3]} { // 5 -> 3 by graceful leaves
		a.terminate(t)
		progress()
	}
	for _, a := range all[:3] { // rolling restart
		a.terminate(t)
		progress()
		a.launch(t)
		waitAlive(t, a, 3)
		progress()
	}
	wr.stop()
	for _, a := range all[:3] {
		a.terminate(t)
	}

	got := map[string]int64{}
	rows := map[string]int{}
	found := map[string][]string{} // value: the sinks and batches it was found in
	for _, a := range all {
		path := filepath.Join(dir, a.name, "out.jsonl")
		f, err := os.Open(path)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var l struct {
				Store, Key, Batch string
				Count             int64
				Values            []string
			}
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatal(err)
			}
			got[l.Key] += l.Count
			for _, v := range l.Values {
				rows[v]++
				found[v] = append(found[v], fmt.Sprintf("%s's sink, batch %s", a.name, l.Batch))
			}
		}
		f.Close()
	}
	if rep := wr.Compare(got, rows); !rep.OK() {
		t.Errorf("the sinks do not hold the acknowledged ops exactly once: %v", rep)
		for _, v := range rep.DoubledValues[:min(len(rep.DoubledValues), 5)] {
			t.Errorf("value %s reached the sinks twice: in %v", v, found[v])
		}
	}
	t.Logf("%d acknowledged ops through 2 joins, 2 leaves and 3 restarts; %d with an unknown outcome", wr.Acks(), wr.Unknown())
}
