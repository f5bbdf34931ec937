//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/client"
	"github.com/hoard-dev/hoard/internal/tlsconf"
)

// The README's recipe: a CA, then a certificate for the nodes and one for
// clients, each signed by it.
var certRecipe = []string{
	"req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj /CN=hoard-ca -keyout ca.key -out ca.pem",
	`req -x509 -CA ca.pem -CAkey ca.key -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 -subj /CN=hoard-node -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -addext extendedKeyUsage=serverAuth,clientAuth -addext basicConstraints=critical,CA:FALSE -keyout node.key -out node.pem`,
	`req -x509 -CA ca.pem -CAkey ca.key -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 -subj /CN=hoard-client -addext extendedKeyUsage=clientAuth -addext basicConstraints=critical,CA:FALSE -keyout client.key -out client.pem`,
}

// makeCerts runs the recipe in dir.
func makeCerts(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, step := range certRecipe {
		cmd := exec.Command("openssl", strings.Fields(step)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", step, err, out)
		}
	}
}

const (
	e2eAdmin = "e2e-admin-secret-0123456789"
	e2eWrite = "e2e-write-secret-0123456789"
)

// secureConf is the security part of an agent's file: the gossip key,
// mutual TLS with the certificates of dir, an admin and a write token.
func secureConf(key, dir string) string {
	return fmt.Sprintf(`
encrypt = %q
tls {
  ca_file         = %q
  cert_file       = %q
  key_file        = %q
  verify_incoming = true
  verify_outgoing = true
}
token "ops" {
  secret = %q
  role   = "admin"
}
token "app" {
  secret_file = %q
  role        = "write"
}
`, key, filepath.Join(dir, "ca.pem"), filepath.Join(dir, "node.pem"), filepath.Join(dir, "node.key"), e2eAdmin, filepath.Join(dir, "app.token"))
}

// TestSecureAgents: three agents with a gossip key, mutual TLS and tokens.
// The CLI, the Go client and redis-cli --tls work with the right
// credentials; a plaintext client, a client without a token, a write token
// asking for leave, a node without the gossip key and a node with a
// certificate of another CA are each refused with a clear error and a log
// line on the node. A key rotation and a SIGHUP certificate reload happen
// under load with no failed op.
func TestSecureAgents(t *testing.T) {
	rcli := redisCLI(t)
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	makeCerts(t, certs)
	if err := os.WriteFile(filepath.Join(certs, "app.token"), []byte(e2eWrite+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(hoard(t, "keygen")))
	stores := `
sink "file" "out" {
  path = "{dir}/out.jsonl"
}
counter "pv" {
  sink     = "out"
  interval = "1h"
}
`
	t.Setenv("HOARD_CA_FILE", filepath.Join(certs, "ca.pem"))
	t.Setenv("HOARD_CERT_FILE", filepath.Join(certs, "client.pem"))
	t.Setenv("HOARD_KEY_FILE", filepath.Join(certs, "client.key"))
	t.Setenv("HOARD_TOKEN", e2eAdmin)
	agents := startAgents(t, 3, secureConf(key, certs), stores)
	waitMembers(t, agents)
	waitSameRing(t, agents)

	// The right credentials work: the CLI (from the environment), redis-cli
	// over mutual TLS with the write token, the Go client.
	hoard(t, "incr", "pv", "k", "5", "--rpc", agents[0].rpc)
	tlsArgs := []string{"--tls", "--cacert", filepath.Join(certs, "ca.pem"), "--cert", filepath.Join(certs, "client.pem"), "--key", filepath.Join(certs, "client.key")}
	if got := cli(t, rcli, agents[1].resp, "", append(tlsArgs, "--user", "app", "--pass", e2eWrite, "--no-auth-warning", "INCRBY", "pv:k", "2")...); got != "7" {
		t.Fatalf("redis-cli --tls INCRBY = %q, want 7", got)
	}
	tc, err := tlsconf.ClientFromFiles(filepath.Join(certs, "ca.pem"), filepath.Join(certs, "client.pem"), filepath.Join(certs, "client.key"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := client.DialConfig(ctx, client.Config{Addrs: []string{agents[2].rpc}, Token: e2eWrite, TLS: tc})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if n, err := cl.Count(ctx, "pv", "k"); err != nil || n != 7 {
		t.Fatalf("Go client count = %d, %v; want 7", n, err)
	}

	// Refusals, each with its reason on the client and a line on the node.
	for _, tc := range []struct {
		name    string
		env     []string
		args    []string
		want    string // in the CLI's error
		nodeLog string // in agents[0]'s log
	}{
		{"plaintext", []string{"HOARD_CA_FILE=", "HOARD_CERT_FILE=", "HOARD_KEY_FILE="}, []string{"members"}, "this port speaks TLS", "tls handshake failed"},
		{"no token", []string{"HOARD_TOKEN="}, []string{"members"}, "a token is required", "refused an unauthorized connection"},
		{"a write token asking for leave", []string{"HOARD_TOKEN=" + e2eWrite}, []string{"leave"}, `token "app" (role write) may not call leave: it needs admin`, "request refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(hoardBin, append(tc.args, "--rpc", agents[0].rpc)...)
			cmd.Env = append(os.Environ(), tc.env...)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Fatalf("hoard %v: %v\n%s\nwant an error saying %q", tc.args, err, out, tc.want)
			}
			waitFor(t, 10*time.Second, "the node's log line", func() error {
				if !strings.Contains(agents[0].log.String(), tc.nodeLog) {
					return fmt.Errorf("no %q in the log", tc.nodeLog)
				}
				return nil
			})
		})
	}
	host, port, _ := strings.Cut(agents[1].resp, ":")
	out, _ := exec.Command(rcli, append([]string{"-h", host, "-p", port}, append(tlsArgs, "INCR", "pv:k")...)...).CombinedOutput()
	if !strings.Contains(string(out), "NOAUTH") {
		t.Fatalf("redis-cli without a token: %q, want NOAUTH", out)
	}
	waitMembers(t, agents) // the write token did not make n1 leave

	// A node without the gossip key, and one with the key but a
	// certificate of another CA, cannot get in; each says why and exits.
	other := filepath.Join(dir, "other")
	makeCerts(t, other)
	if err := os.WriteFile(filepath.Join(other, "app.token"), []byte(e2eWrite+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, conf, want string
	}{
		{"without the gossip key", strings.Replace(secureConf(key, certs), fmt.Sprintf("encrypt = %q", key), "", 1), ""},
		{"with a certificate of another CA", secureConf(key, other), "does not trust"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == "" {
				// Tokens need the gossip key: this one runs TLS only.
				tc.conf = strings.Split(tc.conf, "token")[0]
			}
			x := extraAgent(t, dir, "x-"+strings.ReplaceAll(tc.name, " ", "-"), agents[0].gossip, tc.conf+stores)
			if tc.want == "" {
				waitFor(t, 30*time.Second, "the keyless node to fail to join", func() error {
					if !strings.Contains(x.log.String(), "could not join the cluster") {
						return errors.New("not yet")
					}
					return nil
				})
				x.terminate(t)
			} else {
				select {
				case <-x.exited:
				case <-time.After(exitTimeout):
					t.Fatal("the node with another CA's certificate did not exit")
				}
				if x.err == nil || !strings.Contains(x.log.String(), tc.want) {
					t.Fatalf("exit %v; log:\n%s\nwant %q", x.err, x.log.String(), tc.want)
				}
			}
			for _, a := range agents {
				ms, err := members(a.rpc)
				if err != nil {
					t.Fatal(err)
				}
				if len(ms) != 3 {
					t.Fatalf("%s lists %v, want the 3 agents only", a.name, ms)
				}
			}
		})
	}

	// Key rotation and a certificate reload under load: writers with the
	// write token, none of whose ops may fail.
	var acked, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wcl, err := client.DialConfig(ctx, client.Config{Addrs: []string{agents[w%3].rpc}, Token: e2eWrite, TLS: tc})
		if err != nil {
			t.Fatal(err)
		}
		defer wcl.Close()
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				octx, ocancel := context.WithTimeout(ctx, 10*time.Second)
				err := wcl.Incr(octx, "pv", fmt.Sprintf("w%d-%d", w, i%50), 1)
				ocancel()
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				} else {
					acked.Add(1)
				}
			}
		})
	}
	progress := func(n int64) {
		t.Helper()
		target := acked.Load() + n
		waitFor(t, 60*time.Second, "the writers to make progress", func() error {
			if got := acked.Load(); got < target {
				return fmt.Errorf("%d acked, want %d", got, target)
			}
			return nil
		})
	}
	progress(500)
	newKey := strings.TrimSpace(string(hoard(t, "keygen")))
	for _, step := range [][]string{{"install", newKey}, {"use", newKey}, {"remove", key}} {
		hoard(t, append([]string{"keyring"}, append(step, "--rpc", agents[0].rpc)...)...)
		progress(500)
	}
	list := string(hoard(t, "keyring", "list", "--rpc", agents[1].rpc, "--format", "json"))
	if strings.Count(list, newKey) != 6 || strings.Contains(list, key) {
		t.Fatalf("keyring list after the rotation:\n%s", list)
	}
	// Renewed certificates, same CA: every node reloads on SIGHUP.
	serial := func() string {
		out, err := exec.Command("openssl", "x509", "-in", filepath.Join(certs, "node.pem"), "-noout", "-serial").Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	before := serial()
	renew := exec.Command("openssl", strings.Fields(strings.ReplaceAll(certRecipe[1], "node.", "renewed."))...)
	renew.Dir = certs
	if out, err := renew.CombinedOutput(); err != nil {
		t.Fatalf("renew: %v\n%s", err, out)
	}
	for _, f := range []string{"node.key", "node.pem"} { // the key first: a reload between the two fails and keeps the old pair
		if err := os.Rename(filepath.Join(certs, strings.Replace(f, "node", "renewed", 1)), filepath.Join(certs, f)); err != nil {
			t.Fatal(err)
		}
	}
	if serial() == before {
		t.Fatal("the renewed certificate has the old serial")
	}
	for _, a := range agents {
		if err := a.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range agents {
		waitFor(t, 10*time.Second, a.name+" to reload", func() error {
			if !strings.Contains(a.log.String(), "tls certificates reloaded") {
				return errors.New("not yet")
			}
			return nil
		})
	}
	progress(500)
	close(stop)
	wg.Wait()
	if f := failed.Load(); f != 0 {
		t.Fatalf("%d ops failed during the rotation and reload; the first: %v", f, firstErr.Load())
	}
	t.Logf("%d increments acknowledged through the key rotation and the certificate reload, none failed", acked.Load())

	// SIGTERM to the whole cluster at once: every node flushes and exits 0,
	// without waiting out its leave timeout on a leave broadcast that no
	// live peer is left to carry.
	start := time.Now()
	for _, a := range agents {
		if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range agents {
		a.waitExit(t, "SIGTERM to all three at once")
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("stopping the whole cluster took %s (the leave timeout is 30s)", took.Round(time.Second))
	} else {
		t.Logf("the three agents stopped together in %s", took.Round(10*time.Millisecond))
	}
}

// extraAgent starts one more agent named name joining seed, with conf
// (which may use {dir}).
func extraAgent(t *testing.T, dir, name, seed, conf string) *agent {
	t.Helper()
	a := &agent{
		name:   name,
		gossip: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		rpc:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		http:   fmt.Sprintf("127.0.0.1:%d", freePort(t)),
	}
	data := filepath.Join(dir, name)
	cfg := fmt.Sprintf("name = %q\nbind_addr = %q\nrpc_addr = %q\nhttp_addr = %q\njoin = [%q]\ndata_dir = %q\n%s",
		name, a.gossip, a.rpc, a.http, seed, data, strings.ReplaceAll(conf, "{dir}", data))
	a.config = filepath.Join(dir, name+".hcl")
	if err := os.WriteFile(a.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	a.launch(t)
	t.Cleanup(func() {
		select {
		case <-a.exited:
		default:
			_ = a.cmd.Process.Kill()
			<-a.exited
		}
		if t.Failed() {
			t.Logf("--- log of %s ---\n%s", a.name, a.log.String())
		}
	})
	return a
}
