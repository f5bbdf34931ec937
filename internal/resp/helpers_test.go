package resp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/internal/testcerts"
)

// memNode is a node of one process's memory behind the Backend interface:
// counters, buffers and caches, each op done at once. It stands for the
// node, which the server reaches only through Backend.
type memNode struct {
	kinds map[string]string

	// mu guards counts, lists and values.
	mu     sync.Mutex
	counts map[string]int64
	lists  map[string][][]byte
	values map[string][]byte
}

func newMemNode() *memNode {
	return &memNode{
		kinds:  map[string]string{"pv": op.StoreCounter, "events": op.StoreBuffer, "users": op.StoreCache},
		counts: map[string]int64{}, lists: map[string][][]byte{}, values: map[string][]byte{},
	}
}

func (m *memNode) StoreKind(store string) string { return m.kinds[store] }
func (m *memNode) Info() Info                    { return Info{Node: "mem", Members: 1} }

func (m *memNode) Start(o *op.Op, _ func(op.Result)) (op.Result, bool) {
	m.mu.Lock()
	k := o.Store + ":" + o.Key
	var r op.Result
	switch o.Kind {
	case op.Incr:
		m.counts[k] += o.Delta
		r.Count = m.counts[k]
	case op.Count:
		r.Count = m.counts[k]
	case op.Insert:
		m.lists[k] = append(m.lists[k], o.Values...)
		r.Count = int64(len(m.lists[k]))
	case op.Size:
		r.Count = int64(len(m.lists[k]))
	case op.Dump:
		r.Values = m.lists[k]
	case op.Get:
		r.Value, r.Found = m.values[k]
	case op.Set:
		m.values[k] = o.Values[0]
	case op.Delete:
		_, r.Deleted = m.values[k]
		delete(m.values, k)
	}
	m.mu.Unlock()
	return r, true
}

// logSink collects a server's log lines and passes them on to t.Log.
type logSink struct {
	t *testing.T

	// mu guards lines.
	mu    sync.Mutex
	lines []string
}

func (l *logSink) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
	l.t.Log(line)
	return len(p), nil
}

// matching returns the lines that contain s.
func (l *logSink) matching(s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}

func (l *logSink) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// serve starts a server of node on 127.0.0.1 with cfg, its logs to a sink
// and to t.Log; the test's cleanup closes it.
func serve(t *testing.T, node Backend, cfg Config) (*Server, string, *logSink) {
	t.Helper()
	sink := &logSink{t: t}
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Output: sink, Level: hclog.Debug})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(ln, node, cfg)
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s, ln.Addr().String(), sink
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pki is a certificate authority with a server certificate for 127.0.0.1
// and a client certificate, all ECDSA P-256.
type pki struct {
	pool   *x509.CertPool
	server tls.Certificate
	client tls.Certificate
	// The PEM files, for redis-cli.
	caFile, certFile, keyFile string
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	dir := t.TempDir()
	ca := testcerts.NewCA(t, dir, name+"-ca")
	server := ca.Issue(t, dir, name+"-server")
	client := ca.Issue(t, dir, name+"-client")
	return &pki{pool: ca.Pool(), server: server.TLS(t), client: client.TLS(t),
		caFile: ca.File, certFile: client.CertFile, keyFile: client.KeyFile}
}

// serverTLS is the server's TLS 1.3 config; mutual requires a client
// certificate signed by the CA.
func (p *pki) serverTLS(mutual bool) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{p.server}}
	if mutual {
		c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, p.pool
	}
	return c
}

// clientTLS trusts the CA and presents certs.
func (p *pki) clientTLS(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: p.pool, Certificates: certs}
}

// exchange writes req, which must end the connection (QUIT, or a
// malformed request), on a fresh connection to addr and returns all the
// server answers until it hangs up.
func exchange(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	// A server hanging up on a request it did not read whole resets the
	// connection: what it sent before is still there.
	if err != nil && !(errors.Is(err, syscall.ECONNRESET) && len(got) > 0) {
		t.Fatalf("reading the replies to %.64q: %v (got %.64q)", req, err, got)
	}
	return string(got)
}
