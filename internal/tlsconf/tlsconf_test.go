package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoard-dev/hoard/internal/testcerts"
)

// pki is a CA with a server's and a client's certificates, and a second CA
// with its own certificate, the stranger.
type pki struct {
	dir            string
	ca, otherCA    *testcerts.CA
	server, client testcerts.Cert
	stranger       testcerts.Cert
}

func newPKI(t *testing.T) *pki {
	dir := t.TempDir()
	p := &pki{dir: dir, ca: testcerts.NewCA(t, dir, "ca"), otherCA: testcerts.NewCA(t, dir, "other-ca")}
	p.server = p.ca.Issue(t, dir, "server")
	p.client = p.ca.Issue(t, dir, "client")
	p.stranger = p.otherCA.Issue(t, dir, "stranger")
	return p
}

func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	srv := startServer(t, mustNew(t, nodeConfig(p.ca, p.server)).ServerConfig())
	client := mustNew(t, nodeConfig(p.ca, p.client))

	c, err := dial(t, srv, client.ClientConfigFor("127.0.0.1"))
	if err != nil {
		t.Fatalf("mutual TLS handshake: %v", err)
	}
	h := srv.next(t)
	if h.err != nil || len(h.peers) == 0 || h.peers[0].SerialNumber.Int64() != p.client.Serial {
		t.Errorf("server saw err %v, %d client certificates; want the client's (serial %d)", h.err, len(h.peers), p.client.Serial)
	}
	if got := servedSerial(c); got != p.server.Serial {
		t.Errorf("served certificate serial %d, want %d", got, p.server.Serial)
	}
	if v := c.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("version %x, want TLS 1.3", v)
	}
}

func TestClientCertificateFromAnotherCARefused(t *testing.T) {
	p := newPKI(t)
	srv := startServer(t, mustNew(t, nodeConfig(p.ca, p.server)).ServerConfig())
	// The stranger trusts our CA, so only the server refuses.
	stranger := mustNew(t, Config{CAFile: p.ca.File, CertFile: p.stranger.CertFile, KeyFile: p.stranger.KeyFile, VerifyOutgoing: true})

	if _, err := dial(t, srv, stranger.ClientConfigFor("127.0.0.1")); err == nil || !strings.Contains(err.Error(), "bad certificate") {
		t.Errorf("client with a certificate of another CA: err %v, want the server's bad certificate alert", err)
	}
	h := srv.next(t)
	var unknown x509.UnknownAuthorityError
	if !errors.As(h.err, &unknown) {
		t.Errorf("server handshake error %v, want an x509.UnknownAuthorityError", h.err)
	}
}

func TestClientWithoutCertificateRefused(t *testing.T) {
	p := newPKI(t)
	srv := startServer(t, mustNew(t, nodeConfig(p.ca, p.server)).ServerConfig())
	anon, err := ClientFromFiles(p.ca.File, "", "")
	if err != nil {
		t.Fatal(err)
	}

	if _, err := dial(t, srv, anon); err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Errorf("client without a certificate: err %v, want the server's certificate required alert", err)
	}
	if h := srv.next(t); h.err == nil || !strings.Contains(h.err.Error(), "didn't provide a certificate") {
		t.Errorf("server handshake error %v, want the client's missing certificate", h.err)
	}
}

func TestNoClientCertificateNeededWithoutVerifyIncoming(t *testing.T) {
	p := newPKI(t)
	cfg := nodeConfig(p.ca, p.server)
	cfg.VerifyIncoming = false
	srv := startServer(t, mustNew(t, cfg).ServerConfig())
	anon, err := ClientFromFiles(p.ca.File, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dial(t, srv, anon); err != nil {
		t.Errorf("client without a certificate, server without verify_incoming: %v", err)
	}
	if h := srv.next(t); h.err != nil || len(h.peers) != 0 {
		t.Errorf("server saw err %v and %d client certificates, want none", h.err, len(h.peers))
	}
}

func TestServerCertificateFromAnotherCARefused(t *testing.T) {
	p := newPKI(t)
	// The impostor trusts our CA and does not verify clients: only the
	// client refuses.
	srv := startServer(t, mustNew(t, Config{CAFile: p.ca.File, CertFile: p.stranger.CertFile, KeyFile: p.stranger.KeyFile}).ServerConfig())
	client := mustNew(t, nodeConfig(p.ca, p.client))

	for _, tc := range []struct {
		name string
		cfg  *tls.Config
	}{
		{"reloader", client.ClientConfigFor("127.0.0.1")},
		{"from files", mustClientFromFiles(t, p.ca.File, p.client.CertFile, p.client.KeyFile)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dial(t, srv, tc.cfg)
			var unknown x509.UnknownAuthorityError
			if !errors.As(err, &unknown) {
				t.Errorf("server with a certificate of another CA: err %v, want an x509.UnknownAuthorityError", err)
			}
			srv.next(t)
		})
	}
}

func mustClientFromFiles(t *testing.T, ca, cert, key string) *tls.Config {
	t.Helper()
	c, err := ClientFromFiles(ca, cert, key)
	if err != nil {
		t.Fatalf("ClientFromFiles: %v", err)
	}
	return c
}

func TestServerName(t *testing.T) {
	p := newPKI(t) // the server's certificate: localhost and 127.0.0.1
	srv := startServer(t, mustNew(t, nodeConfig(p.ca, p.server)).ServerConfig())
	withName := func(name string) *Reloader {
		cfg := nodeConfig(p.ca, p.client)
		cfg.ServerName = name
		return mustNew(t, cfg)
	}
	plain := mustNew(t, nodeConfig(p.ca, p.client))
	sni := plain.ClientConfig()
	sni.ServerName = "localhost" // as a transport does on a clone for a dialled name

	for _, tc := range []struct {
		name    string
		cfg     *tls.Config
		wantErr func(error) bool
	}{
		{"ip SAN", plain.ClientConfigFor("127.0.0.1"), nil},
		{"dns SAN", plain.ClientConfigFor("localhost"), nil},
		{"name from SNI", sni, nil},
		{"server_name wins over the host", withName("localhost").ClientConfigFor("127.0.0.2"), nil},
		{"other ip", plain.ClientConfigFor("127.0.0.2"), isHostnameError},
		{"server_name not in the certificate", withName("db.example").ClientConfigFor("127.0.0.1"), isHostnameError},
		{"ip dialled without a name", plain.ClientConfig(), func(err error) bool { return errors.Is(err, ErrNoServerName) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dial(t, srv, tc.cfg)
			srv.next(t)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Errorf("handshake: %v", err)
			case tc.wantErr != nil && !tc.wantErr(err):
				t.Errorf("handshake err %v, not the one wanted", err)
			}
		})
	}
}

func isHostnameError(err error) bool {
	var h x509.HostnameError
	return errors.As(err, &h)
}

// Without verify_outgoing a client encrypts but takes any certificate.
func TestWithoutVerifyOutgoingAnyServerCertificate(t *testing.T) {
	p := newPKI(t)
	srv := startServer(t, mustNew(t, Config{CertFile: p.stranger.CertFile, KeyFile: p.stranger.KeyFile}).ServerConfig())
	client := mustNew(t, Config{CAFile: p.ca.File, CertFile: p.client.CertFile, KeyFile: p.client.KeyFile})
	for _, cfg := range []*tls.Config{client.ClientConfig(), client.ClientConfigFor("127.0.0.2")} {
		c, err := dial(t, srv, cfg)
		if err != nil {
			t.Fatalf("verify_outgoing off: %v", err)
		}
		if got := servedSerial(c); got != p.stranger.Serial {
			t.Errorf("served serial %d, want %d", got, p.stranger.Serial)
		}
		srv.next(t)
	}
}

func TestReloadSwapsServedCertificate(t *testing.T) {
	p := newPKI(t)
	r := mustNew(t, nodeConfig(p.ca, p.server))
	srv := startServer(t, r.ServerConfig())
	client := mustNew(t, nodeConfig(p.ca, p.client)).ClientConfigFor("127.0.0.1")

	before, err := dial(t, srv, client)
	if err != nil {
		t.Fatal(err)
	}
	srv.next(t)
	renewed := p.ca.Issue(t, p.dir, "server") // rewrites the server's files
	if err := r.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := r.Leaf().SerialNumber.Int64(); got != renewed.Serial {
		t.Errorf("Leaf serial %d after reload, want %d", got, renewed.Serial)
	}

	after, err := dial(t, srv, client)
	if err != nil {
		t.Fatal(err)
	}
	srv.next(t)
	if got := servedSerial(after); got != renewed.Serial {
		t.Errorf("new connection: served serial %d, want the reloaded %d", got, renewed.Serial)
	}
	if err := roundTrip(before); err != nil {
		t.Errorf("connection opened before the reload: %v", err)
	}
	if got := servedSerial(before); got != p.server.Serial {
		t.Errorf("old connection: serial %d, want %d", got, p.server.Serial)
	}
}

func TestFailedReloadKeepsCertificate(t *testing.T) {
	p := newPKI(t)
	r := mustNew(t, nodeConfig(p.ca, p.server))
	srv := startServer(t, r.ServerConfig())
	client := mustNew(t, nodeConfig(p.ca, p.client)).ClientConfigFor("127.0.0.1")

	if err := os.WriteFile(p.server.CertFile, []byte("-----BEGIN CERTIFICATE-----\ncorrupt\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := r.Reload()
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "CertFile" || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), p.server.CertFile) {
		t.Fatalf("Reload of a corrupt certificate: %v, want a CertFile error naming the file", err)
	}
	c, err := dial(t, srv, client)
	if err != nil {
		t.Fatalf("handshake after a failed reload: %v", err)
	}
	srv.next(t)
	if got := servedSerial(c); got != p.server.Serial {
		t.Errorf("served serial %d after a failed reload, want the old %d", got, p.server.Serial)
	}
}

// A reload of the CA file applies to the verification of both ends at
// their next handshake.
func TestReloadRotatesCA(t *testing.T) {
	p := newPKI(t)
	// The server moves to the other CA; the client still trusts ours only.
	srvCfg := Config{CAFile: p.otherCA.File, CertFile: p.stranger.CertFile, KeyFile: p.stranger.KeyFile, VerifyIncoming: true}
	srv := startServer(t, mustNew(t, srvCfg).ServerConfig())
	bundle := filepath.Join(p.dir, "bundle.pem")
	copyFile(t, p.ca.File, bundle)
	clientCfg := Config{CAFile: bundle, CertFile: p.client.CertFile, KeyFile: p.client.KeyFile, VerifyOutgoing: true}
	client := mustNew(t, clientCfg)
	cfg := client.ClientConfigFor("localhost") // one Config across the reload

	if _, err := dial(t, srv, cfg); err == nil {
		t.Fatal("handshake with a server of an untrusted CA succeeded")
	}
	srv.next(t)

	// The client trusts both CAs and gets a certificate of the new one.
	appendFile(t, bundle, p.otherCA.File)
	newCert := p.otherCA.Issue(t, p.dir, "client")
	if err := client.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := dial(t, srv, cfg); err != nil {
		t.Fatalf("handshake after the client reloaded the CAs: %v", err)
	}
	if h := srv.next(t); h.err != nil || h.peers[0].SerialNumber.Int64() != newCert.Serial {
		t.Errorf("server: err %v; want the reloaded client certificate", h.err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, to, from string) {
	t.Helper()
	a, err := os.ReadFile(to)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, append(a, b...), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestClientFromFiles(t *testing.T) {
	p := newPKI(t)
	srv := startServer(t, mustNew(t, nodeConfig(p.ca, p.server)).ServerConfig())
	cfg := mustClientFromFiles(t, p.ca.File, p.client.CertFile, p.client.KeyFile)
	if _, err := dial(t, srv, cfg); err != nil { // tls.Dialer checks 127.0.0.1 against the IP SAN
		t.Fatalf("mutual TLS with ClientFromFiles: %v", err)
	}
	if h := srv.next(t); h.err != nil || h.peers[0].SerialNumber.Int64() != p.client.Serial {
		t.Errorf("server: err %v; want the client's certificate", h.err)
	}

	_, err := ClientFromFiles(p.ca.File, p.client.CertFile, "")
	if fe := (*FieldError)(nil); !errors.As(err, &fe) || fe.Field != "CertFile" {
		t.Errorf("certificate without key: %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	p := newPKI(t)
	notPEM := filepath.Join(p.dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(p.dir, "missing.pem")
	base := nodeConfig(p.ca, p.server)
	with := func(f func(*Config)) Config { c := base; f(&c); return c }

	for _, tc := range []struct {
		name  string
		cfg   Config
		field string
		want  string // a substring of the message
		is    error
	}{
		{"tls off", Config{}, "CertFile", "TLS is off", nil},
		{"missing ca", with(func(c *Config) { c.CAFile = missing }), "CAFile", missing, fs.ErrNotExist},
		{"missing cert", with(func(c *Config) { c.CertFile = missing }), "CertFile", missing, fs.ErrNotExist},
		{"missing key", with(func(c *Config) { c.KeyFile = missing }), "KeyFile", missing, fs.ErrNotExist},
		{"ca not pem", with(func(c *Config) { c.CAFile = notPEM }), "CAFile", "no PEM certificate found", nil},
		{"cert not pem", with(func(c *Config) { c.CertFile = notPEM }), "CertFile", "no PEM certificate found", nil},
		{"key not pem", with(func(c *Config) { c.KeyFile = notPEM }), "KeyFile", "no PEM private key found", nil},
		{"key in cert file", with(func(c *Config) { c.CertFile = p.server.KeyFile }), "CertFile", `only ["PRIVATE KEY"] blocks`, nil},
		{"cert in key file", with(func(c *Config) { c.KeyFile = p.server.CertFile }), "KeyFile", `only ["CERTIFICATE"] blocks`, nil},
		{"directory", with(func(c *Config) { c.CAFile = p.dir }), "CAFile", "not a regular file", nil},
		{"key of another certificate", with(func(c *Config) { c.KeyFile = p.client.KeyFile }), "KeyFile", "does not match the certificate", nil},
		{"cert without key", with(func(c *Config) { c.KeyFile = "" }), "CertFile", "without its key", nil},
		{"key without cert", Config{KeyFile: p.server.KeyFile}, "KeyFile", "without a certificate", nil},
		{"ca without cert", Config{CAFile: p.ca.File}, "CertFile", "a node serves TLS", nil},
		{"verify_incoming without ca", with(func(c *Config) { c.CAFile = ""; c.VerifyOutgoing = false }), "VerifyIncoming", "needs the CA", nil},
		{"verify_outgoing without ca", with(func(c *Config) { c.CAFile = ""; c.VerifyIncoming = false }), "VerifyOutgoing", "needs the CA", nil},
		{"verify_incoming without files", Config{VerifyIncoming: true}, "VerifyIncoming", "needs the CA", nil},
		{"server_name without verify_outgoing", with(func(c *Config) { c.VerifyOutgoing = false; c.ServerName = "x" }), "ServerName", "only with VerifyOutgoing", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(tc.cfg)
			var fe *FieldError
			switch {
			case r != nil || err == nil:
				t.Fatalf("New succeeded")
			case !errors.Is(err, ErrInvalid):
				t.Errorf("error %v does not match ErrInvalid", err)
			case !errors.As(err, &fe) || fe.Field != tc.field:
				t.Errorf("error %v, want one about %s", err, tc.field)
			case !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %q, want it to say %q", err, tc.want)
			case tc.is != nil && !errors.Is(err, tc.is):
				t.Errorf("error %v does not match %v", err, tc.is)
			}
		})
	}
}

// A server's reload of its CA file applies to the next client's
// certificate, on the same listener.
func TestServerReloadRotatesClientCA(t *testing.T) {
	p := newPKI(t)
	bundle := filepath.Join(p.dir, "server-ca.pem")
	copyFile(t, p.ca.File, bundle)
	r := mustNew(t, Config{CAFile: bundle, CertFile: p.server.CertFile, KeyFile: p.server.KeyFile, VerifyIncoming: true})
	srv := startServer(t, r.ServerConfig())
	stranger := mustNew(t, Config{CAFile: p.ca.File, CertFile: p.stranger.CertFile, KeyFile: p.stranger.KeyFile, VerifyOutgoing: true})
	cfg := stranger.ClientConfigFor("127.0.0.1")

	if _, err := dial(t, srv, cfg); err == nil {
		t.Fatal("client of an untrusted CA accepted")
	}
	srv.next(t)
	appendFile(t, bundle, p.otherCA.File)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := dial(t, srv, cfg); err != nil {
		t.Fatalf("client of a CA the server reloaded: %v", err)
	}
	if h := srv.next(t); h.err != nil {
		t.Errorf("server: %v", h.err)
	}
}
