package node_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/client"
	"github.com/hoard-dev/hoard/internal/testcerts"
	"github.com/hoard-dev/hoard/internal/tlsconf"
	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/sinks"
	"github.com/hoard-dev/hoard/testcluster"
)

const (
	adminSecret = "admin-secret-0123456789"
	writeSecret = "write-secret-0123456789"
	readSecret  = "read-secret-01234567890"
)

// secureCluster starts n nodes with a gossip key, mutual TLS and tokens
// (admin, write, read), and returns them with the CA, a client
// certificate signed by it, the gossip key and the directory of the nodes'
// certificate (dir/node.pem).
func secureCluster(t *testing.T, n int, mem *sinks.Memory) (*testcluster.Cluster, *testcerts.CA, testcerts.Cert, []byte, string) {
	t.Helper()
	dir := t.TempDir()
	ca := testcerts.NewCA(t, dir, "ca")
	nodeCert := ca.Issue(t, dir, "node")
	cliCert := ca.Issue(t, dir, "cli")
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	c := testcluster.New(t, n, &testcluster.Options{Configure: func(i int, cfg *node.Config) {
		cfg.EncryptKey = key
		cfg.TLS = node.TLSConfig{CAFile: ca.File, CertFile: nodeCert.CertFile, KeyFile: nodeCert.KeyFile, VerifyIncoming: true, VerifyOutgoing: true}
		cfg.Tokens = []node.Token{
			{Name: "ops", Secret: adminSecret, Role: node.RoleAdmin},
			{Name: "app", Secret: writeSecret, Role: node.RoleWrite},
			{Name: "dash", Secret: readSecret, Role: node.RoleRead},
		}
		cfg.Stores = []node.StoreConfig{{Name: "pv", Kind: node.KindCounter, Sink: mem, Interval: time.Hour}}
	}})
	return c, ca, cliCert, key, dir
}

func dialWith(t *testing.T, addrs []string, token string, tc *tls.Config) (*client.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := client.DialConfig(ctx, client.Config{Addrs: addrs, Token: token, TLS: tc})
	if err == nil {
		t.Cleanup(func() { _ = cl.Close() })
	}
	return cl, err
}

// TestSecureClusterRefusesWhoHasNoKey: with a gossip key, mutual TLS and
// tokens, clients with the right credentials work, each role does what it
// may and no more, and a client without TLS, without a certificate the CA
// signed, or without a token is refused with the reason.
func TestSecureClusterRefusesWhoHasNoKey(t *testing.T) {
	mem := sinks.NewMemory()
	c, ca, cliCert, _, _ := secureCluster(t, 3, mem)
	addrs := c.RPCAddrs()
	good, err := tlsconf.ClientFromFiles(ca.File, cliCert.CertFile, cliCert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	writer, err := dialWith(t, addrs, writeSecret, good)
	if err != nil {
		t.Fatalf("dial with a write token: %v", err)
	}
	for i := range 50 {
		if err := writer.Incr(ctx, "pv", fmt.Sprintf("k%d", i%5), 1); err != nil {
			t.Fatalf("incr with a write token: %v", err)
		}
	}
	if err := writer.Leave(ctx); !errors.Is(err, client.ErrForbidden) || !strings.Contains(err.Error(), `token "app" (role write) may not call leave: it needs admin`) {
		t.Fatalf("leave with a write token = %v, want ErrForbidden saying why", err)
	}
	if _, err := writer.Flush(ctx, ""); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("flush with a write token = %v, want ErrForbidden", err)
	}

	reader, err := dialWith(t, addrs, readSecret, good)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := reader.Count(ctx, "pv", "k0"); err != nil || n != 10 {
		t.Fatalf("count with a read token = %d, %v; want 10", n, err)
	}
	if err := reader.Incr(ctx, "pv", "k0", 1); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("incr with a read token = %v, want ErrForbidden", err)
	}

	admin, err := dialWith(t, addrs, adminSecret, good)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Flush(ctx, ""); err != nil {
		t.Fatalf("flush with the admin token: %v", err)
	}
	for _, bad := range []struct{ op, key, want string }{
		{"install", "!!not base64", "not base64"},
		{"install", base64.StdEncoding.EncodeToString([]byte("short")), "16, 24 or 32 bytes"},
		{"spin", "", "want list, install, use or remove"},
	} {
		if _, err := admin.Keyring(ctx, bad.op, bad.key); !errors.Is(err, client.ErrInvalid) || !strings.Contains(err.Error(), bad.want) {
			t.Fatalf("keyring %s %q = %v, want ErrInvalid saying %q", bad.op, bad.key, err, bad.want)
		}
	}
	if got := mem.Counts("pv"); got["k0"] != 10 || len(got) != 5 {
		t.Fatalf("sink holds %v, want 10 for each of k0..k4", got)
	}

	other := testcerts.NewCA(t, t.TempDir(), "other-ca")
	otherCert := other.Issue(t, t.TempDir(), "intruder")
	foreign, err := tlsconf.ClientFromFiles(ca.File, otherCert.CertFile, otherCert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	noCert, err := tlsconf.ClientFromFiles(ca.File, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		token string
		tls   *tls.Config
		want  string
	}{
		{"no token", "", good, "a token is required"},
		{"a wrong token", "not-a-token-0123456789", good, "matches none of this node's tokens"},
		{"plain TCP", adminSecret, nil, "this port speaks TLS"},
		{"no client certificate", adminSecret, noCert, "certificate required"},
		{"a certificate of another CA", adminSecret, foreign, "bad certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dialWith(t, addrs[:1], tc.token, tc.tls)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("dial = %v, want an error saying %q", err, tc.want)
			}
			for _, s := range []string{adminSecret, writeSecret, readSecret} {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("the error shows a secret: %v", err)
				}
			}
		})
	}
}

// TestKeyRotationAndCertificateReloadUnderLoad: writers keep incrementing
// while the gossip key is rotated on every member (install, use, remove)
// and every node reloads a new certificate; no op fails, the sink gets
// every acknowledged increment. (That a node holding only the old key can
// no longer join is cluster's TestKeyRotationKeepsMembersAlive.)
func TestKeyRotationAndCertificateReloadUnderLoad(t *testing.T) {
	mem := sinks.NewMemory()
	c, ca, cliCert, oldKey, dir := secureCluster(t, 3, mem)
	addrs := c.RPCAddrs()
	tc, err := tlsconf.ClientFromFiles(ca.File, cliCert.CertFile, cliCert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := dialWith(t, addrs, adminSecret, tc)
	if err != nil {
		t.Fatal(err)
	}

	var acked, failed atomic.Int64
	var firstErr atomic.Pointer[error]
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		cl, err := dialWith(t, addrs, writeSecret, tc)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := cl.Incr(ctx, "pv", fmt.Sprintf("w%d-%d", w, i%20), 1)
				cancel()
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				acked.Add(1)
			}
		})
	}
	progress := func(n int64) {
		t.Helper()
		target := acked.Load() + n
		testcluster.WaitFor(t, 30*time.Second, "the writers to make progress", func() error {
			if got := acked.Load(); got < target {
				return fmt.Errorf("%d acked, want %d", got, target)
			}
			return nil
		})
	}
	progress(200)

	newKey := make([]byte, 32)
	if _, err := rand.Read(newKey); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b64 := base64.StdEncoding.EncodeToString
	for _, step := range []struct{ op, key string }{{"install", b64(newKey)}, {"use", b64(newKey)}, {"remove", b64(oldKey)}} {
		nodes, err := admin.Keyring(ctx, step.op, step.key)
		if err != nil || len(nodes) != 3 {
			t.Fatalf("keyring %s: %v (%d nodes)", step.op, err, len(nodes))
		}
		progress(200)
	}
	nodes, err := admin.Keyring(ctx, "list", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.Primary != b64(newKey) || len(n.Keys) != 1 {
			t.Fatalf("%s holds %d keys, primary %s; want only the new one", n.Node, len(n.Keys), n.Primary)
		}
	}

	// A renewed certificate where the nodes' config names it, then every
	// node reloads it: new connections get it, open ones carry on.
	fresh := ca.Issue(t, dir, "node")
	for _, n := range c.Nodes() {
		if err := n.ReloadTLS(); err != nil {
			t.Fatalf("%s: reload: %v", n.Name(), err)
		}
	}
	for _, addr := range addrs {
		conn, err := tls.Dial("tcp", addr, tc)
		if err != nil {
			t.Fatal(err)
		}
		serial := conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
		_ = conn.Close()
		if serial != fresh.Serial {
			t.Fatalf("%s serves certificate %d after the reload, want %d", addr, serial, fresh.Serial)
		}
	}
	progress(200)
	close(stop)
	wg.Wait()
	if f := failed.Load(); f != 0 {
		t.Fatalf("%d ops failed during the rotation and reload; the first: %v", f, *firstErr.Load())
	}
	if _, err := admin.Flush(ctx, ""); err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, v := range mem.Counts("pv") {
		sum += v
	}
	if sum != acked.Load() {
		t.Fatalf("sink holds %d increments, %d were acknowledged", sum, acked.Load())
	}
}
