//go:build e2e

// Package e2e runs real `hoard agent` processes on loopback and drives them
// with the hoard CLI, as a user would. Run with `make e2e`.
package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hoardBin is built once per test run by TestMain.
var hoardBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hoard-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hoardBin = filepath.Join(dir, "hoard")
	build := exec.Command("go", "build", "-o", hoardBin, "../cmd/hoard")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build hoard:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// agent is one running `hoard agent` process.
type agent struct {
	name   string
	gossip string
	rpc    string
	http   string
	resp   string // RESP (Redis protocol) address
	cmd    *exec.Cmd
	log    *bytes.Buffer
	exited chan struct{}
	err    error // exit error, valid once exited is closed
	config string
}

func (a *agent) cmdConfig() string { return a.config }

// launch starts the agent from its config file; its output goes to a.log,
// after that of its earlier runs, and a.exited closes when it exits.
func (a *agent) launch(t *testing.T) {
	t.Helper()
	if a.log == nil {
		a.log = &bytes.Buffer{}
	} else { // a restart: the earlier runs' output stays, for a failure's log
		fmt.Fprintf(a.log, "--- %s restarted ---\n", a.name)
	}
	a.exited = make(chan struct{})
	a.cmd = exec.Command(hoardBin, "agent", "--config", a.config)
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", a.name, err)
	}
	exited := a.exited
	go func() {
		a.err = a.cmd.Wait()
		close(exited)
	}()
}

// exitTimeout bounds how long an agent told to stop may take to exit: its
// final flush included.
const exitTimeout = 45 * time.Second

// terminate sends a SIGTERM to a and fails t unless a exits within
// exitTimeout, with status 0.
func (a *agent) terminate(t *testing.T) {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM %s: %v", a.name, err)
	}
	a.waitExit(t, "SIGTERM")
}

// waitExit fails t unless a, told to stop by what cause names, exits within
// exitTimeout, with status 0. The test's cleanup logs a's output.
func (a *agent) waitExit(t *testing.T, cause string) {
	t.Helper()
	select {
	case <-a.exited:
	case <-time.After(exitTimeout):
		t.Fatalf("%s did not exit within %v of %s", a.name, exitTimeout, cause)
	}
	if a.err != nil {
		var ee *exec.ExitError
		if errors.As(a.err, &ee) {
			t.Fatalf("%s exited with status %d after %s, want 0", a.name, ee.ExitCode(), cause)
		}
		t.Fatalf("%s after %s: %v", a.name, cause, a.err)
	}
}

// waitAlive waits until a sees want members alive and not leaving.
func waitAlive(t *testing.T, a *agent, want int) {
	t.Helper()
	waitFor(t, 45*time.Second, fmt.Sprintf("%s to see %d alive", a.name, want), func() error {
		ms, err := members(a.rpc)
		if err != nil {
			return err
		}
		alive := 0
		for _, m := range ms {
			if m.Status == "alive" && m.State == "alive" {
				alive++
			}
		}
		if alive != want {
			return fmt.Errorf("%d alive: %+v", alive, ms)
		}
		return nil
	})
}

// handedOut is every port freePort returned in this process: the kernel
// may give a port released by one call to the next, before the agent it
// was picked for binds it (seen once: a node's gossip and another's RPC
// on the same port).
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// freePort returns a loopback port free for both TCP and UDP (gossip uses
// both), never one it returned before.
func freePort(t *testing.T) int {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			if !handedOut.ports[port] {
				handedOut.ports[port] = true
				return port
			}
		}
	}
	t.Fatal("no free port")
	return 0
}

// startAgents writes a config file per node and starts n agents, each
// joining the first. extra is appended to every config file.
func startAgents(t *testing.T, n int, extra ...string) []*agent {
	t.Helper()
	dir := t.TempDir()
	var agents []*agent
	for i := range n {
		a := &agent{
			name:   fmt.Sprintf("n%d", i+1),
			gossip: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			rpc:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			http:   fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			resp:   fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			log:    &bytes.Buffer{},
			exited: make(chan struct{}),
		}
		join := ""
		if i > 0 {
			join = fmt.Sprintf("join = [%q]", agents[0].gossip)
		}
		cfg := fmt.Sprintf(`
name      = %q
bind_addr = %q
rpc_addr  = %q
http_addr = %q
resp_addr = %q
%s
data_dir  = %q
%s
`, a.name, a.gossip, a.rpc, a.http, a.resp, join, filepath.Join(dir, a.name), strings.ReplaceAll(strings.Join(extra, "\n"), "{dir}", filepath.Join(dir, a.name)))
		path := filepath.Join(dir, a.name+".hcl")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		a.config = path
		a.cmd = exec.Command(hoardBin, "agent", "--config", path)
		a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
		if err := a.cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", a.name, err)
		}
		go func() {
			a.err = a.cmd.Wait()
			close(a.exited)
		}()
		agents = append(agents, a)
	}
	t.Cleanup(func() {
		for _, a := range agents {
			select {
			case <-a.exited:
			default:
				_ = a.cmd.Process.Kill()
				<-a.exited
			}
			if t.Failed() {
				t.Logf("--- log of %s ---\n%s", a.name, a.log.String())
			}
		}
	})
	return agents
}

// hoard runs a CLI command and returns its stdout; it fails the test on a
// non-zero exit.
func hoard(t *testing.T, args ...string) []byte {
	t.Helper()
	out, err := hoardErr(args...)
	if err != nil {
		t.Fatalf("hoard %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func hoardErr(args ...string) ([]byte, error) {
	cmd := exec.Command(hoardBin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%w: %s", err, stderr.String())
	}
	return out, nil
}

type member struct {
	Name   string `json:"Name"`
	Status string `json:"Status"`
	State  string `json:"State"`
}

func members(rpc string) ([]member, error) {
	out, err := hoardErr("members", "--rpc", rpc, "--format", "json")
	if err != nil {
		return nil, err
	}
	var ms []member
	if err := json.Unmarshal(out, &ms); err != nil {
		return nil, fmt.Errorf("members output %q: %w", out, err)
	}
	return ms, nil
}

// waitFor checks cond until it returns nil, and fails the test with what
// and cond's last error if that has not happened after timeout. It is
// testcluster.WaitFor, which these tests do not import so as not to link
// the nodes they run as processes; it backs off to 200ms between checks,
// since a check here usually runs the CLI.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	interval := time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
			return
		}
		time.Sleep(interval) // poll interval, not synchronisation
		interval = min(2*interval, 200*time.Millisecond)
	}
}

// waitMembers waits until every agent lists all of them as members.
func waitMembers(t *testing.T, agents []*agent) {
	t.Helper()
	for _, a := range agents {
		waitFor(t, 30*time.Second, fmt.Sprintf("%s to see %d members", a.name, len(agents)), func() error {
			ms, err := members(a.rpc)
			if err != nil {
				return err
			}
			if len(ms) != len(agents) {
				return fmt.Errorf("members: %+v", ms)
			}
			return nil
		})
	}
}

func statusOf(ms []member) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		out[m.Name] = m.Status
	}
	return out
}

func TestThreeAgents(t *testing.T) {
	agents := startAgents(t, 3)

	// Every node lists three alive members.
	for _, a := range agents {
		waitFor(t, 30*time.Second, a.name+" to see 3 alive", func() error {
			ms, err := members(a.rpc)
			if err != nil {
				return err
			}
			st := statusOf(ms)
			if len(ms) != 3 || st["n1"] != "alive" || st["n2"] != "alive" || st["n3"] != "alive" {
				return fmt.Errorf("members: %+v", ms)
			}
			return nil
		})
	}

	// Every node names the same owner for the same keys, once rings agree.
	waitFor(t, 30*time.Second, "the owners to agree", func() error {
		for k := range 20 {
			key := fmt.Sprintf("/page/%d", k)
			var first string
			for i, a := range agents {
				out, err := hoardErr("owner", "pageviews", key, "--rpc", a.rpc, "--format", "json")
				if err != nil {
					return err
				}
				var pl struct {
					Partition int    `json:"partition"`
					Owner     string `json:"owner"`
				}
				if err := json.Unmarshal(out, &pl); err != nil {
					return err
				}
				got := fmt.Sprintf("%d/%s", pl.Partition, pl.Owner)
				if i == 0 {
					first = got
				} else if got != first {
					return fmt.Errorf("%s: %s says %s, %s says %s", key, agents[0].name, first, a.name, got)
				}
			}
		}
		return nil
	})

	// Health endpoints answer.
	for _, a := range agents {
		resp, err := http.Get("http://" + a.http + "/readyz")
		if err != nil {
			t.Fatalf("%s /readyz: %v", a.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"ready":true`)) {
			t.Fatalf("%s /readyz: %d %s", a.name, resp.StatusCode, body)
		}
		resp, err = http.Get("http://" + a.http + "/metrics")
		if err != nil {
			t.Fatalf("%s /metrics: %v", a.name, err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		want := fmt.Sprintf(`hoard_ring_members{node=%q} 3`, a.name)
		if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(want)) || !bytes.Contains(body, []byte("hoard_unflushed_ops")) {
			t.Fatalf("%s /metrics lacks %s:\n%s", a.name, want, body)
		}
	}

	// SIGKILL n3: the others see it fail and drop it from their rings.
	if err := agents[2].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-agents[2].exited
	killed := time.Now()
	for _, a := range agents[:2] {
		waitFor(t, 30*time.Second, a.name+" to drop n3", func() error {
			ms, err := members(a.rpc)
			if err != nil {
				return err
			}
			if st := statusOf(ms)["n3"]; st != "failed" {
				return fmt.Errorf("n3 is %q", st)
			}
			out, err := hoardErr("ring", "--rpc", a.rpc, "--format", "json")
			if err != nil {
				return err
			}
			var r struct {
				Members []struct {
					Name       string `json:"name"`
					Partitions int    `json:"partitions"`
				} `json:"members"`
			}
			if err := json.Unmarshal(out, &r); err != nil {
				return err
			}
			if len(r.Members) != 2 {
				return fmt.Errorf("ring has %d members", len(r.Members))
			}
			return nil
		})
	}
	t.Logf("failure of n3 detected by both survivors %s after SIGKILL", time.Since(killed).Round(100*time.Millisecond))

	// The rest leave gracefully and exit 0: n2 through `hoard leave`, n1 on
	// SIGTERM.
	hoard(t, "leave", "--rpc", agents[1].rpc)
	agents[1].waitExit(t, "hoard leave")
	agents[0].terminate(t)
}

func TestAgentConfigErrorNamesTheLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.hcl")
	if err := os.WriteFile(path, []byte("name = \"n1\"\nrpc_addr = \"nope\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(hoardBin, "agent", "--config", path).CombinedOutput()
	if err == nil {
		t.Fatalf("agent started with a bad config: %s", out)
	}
	if !strings.Contains(string(out), "bad.hcl:2") || !strings.Contains(string(out), "rpc_addr") {
		t.Fatalf("error does not name file, line and field: %s", out)
	}
}
