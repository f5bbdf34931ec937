package resp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/internal/op"
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

func (m *memNode) Start(o op.Op, done func(op.Result)) {
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
	done(r)
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
	caPEM  []byte
	server tls.Certificate
	client tls.Certificate
	// The PEM files, for redis-cli.
	caFile, certFile, keyFile string
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{pool: x509.NewCertPool(), caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})}
	p.pool.AddCert(ca)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) (tls.Certificate, []byte, []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return c, certPEM, keyPEM
	}
	p.server, _, _ = leaf(2, "hoard", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	var certPEM, keyPEM []byte
	p.client, certPEM, keyPEM = leaf(3, name+" client", x509.ExtKeyUsageClientAuth, nil)
	dir := t.TempDir()
	p.caFile, p.certFile, p.keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	for f, b := range map[string][]byte{p.caFile: p.caPEM, p.certFile: certPEM, p.keyFile: keyPEM} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
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
