package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/hoard-dev/hoard/internal/testcerts"
)

// testCA is a certificate authority made for a test, with the pool of
// its certificate.
type testCA struct {
	*testcerts.CA
	dir  string
	pool *x509.CertPool
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	dir := t.TempDir()
	ca := testcerts.NewCA(t, dir, name)
	return &testCA{CA: ca, dir: dir, pool: ca.Pool()}
}

// issue returns a certificate for name, valid for 127.0.0.1, for servers
// and clients.
func (ca *testCA) issue(t *testing.T, name string) tls.Certificate {
	t.Helper()
	return ca.Issue(t, ca.dir, name).TLS(t)
}

// authorizeCert names the client by its certificate, and checks the TLS
// state reached Authorize.
func authorizeCert(_ Hello, st *tls.ConnectionState) (any, error) {
	switch {
	case st == nil:
		return nil, errors.New("no TLS state")
	case st.Version != tls.VersionTLS13:
		return nil, errors.New("not TLS 1.3")
	case len(st.PeerCertificates) == 0:
		return "anonymous", nil
	}
	return "cn:" + st.PeerCertificates[0].Subject.CommonName, nil
}

func TestTLS(t *testing.T) {
	checkLeaks(t)
	ca := newTestCA(t, "hoard test CA")
	other := newTestCA(t, "another CA")
	serverCert := ca.issue(t, "node-1")

	serve := func(t *testing.T, mutual bool) (*Server, *lineCounter) {
		cfg := testConfig(t, "server")
		logs := &lineCounter{}
		cfg.Logger = hclogTo(logs)
		cfg.Authorize = authorizeCert
		cfg.ServerTLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS13}
		if mutual {
			cfg.ServerTLS.ClientAuth = tls.RequireAndVerifyClientCert
			cfg.ServerTLS.ClientCAs = ca.pool
		}
		return startServer(t, cfg, HandlerFunc(whoami)), logs
	}
	client := func(t *testing.T, roots *x509.CertPool, certs ...tls.Certificate) *Config {
		cfg := testConfig(t, "client")
		cfg.ClientTLS = &tls.Config{RootCAs: roots, Certificates: certs, MinVersion: tls.VersionTLS13}
		return cfg
	}
	whoIs := func(t *testing.T, s *Server, cfg *Config) (string, error) {
		c, err := Dial(ctxTimeout(t), s.Addr().String(), cfg)
		if err != nil {
			return "", err
		}
		defer c.Close()
		var got string
		err = c.Call(ctxTimeout(t), "whoami", nil, &got)
		return got, err
	}
	// refused checks that Dial failed with a TLS error naming the address
	// and saying why, and that the server logged it.
	refused := func(t *testing.T, s *Server, logs *lineCounter, err error, why string) {
		t.Helper()
		t.Logf("Dial: %v", err)
		prefix := "tls handshake with " + s.Addr().String() + ": "
		if err == nil || !strings.Contains(err.Error(), prefix) || !strings.Contains(err.Error(), why) {
			t.Fatalf("Dial: %v; want %q ... %q", err, prefix, why)
		}
		waitFor(t, waitTimeout, "the server's log line", func() error {
			if logs.count("tls handshake failed") == 0 {
				return errors.New("no line")
			}
			return nil
		})
	}

	t.Run("server certificate", func(t *testing.T) {
		s, _ := serve(t, false)
		got, err := whoIs(t, s, client(t, ca.pool))
		if err != nil || got != `anonymous token="" proof=""` {
			t.Fatalf("whoami: %q, %v", got, err)
		}
	})
	t.Run("server certificate from an unknown CA", func(t *testing.T) {
		s, logs := serve(t, false)
		_, err := whoIs(t, s, client(t, other.pool))
		refused(t, s, logs, err, "x509: certificate signed by unknown authority")
	})
	t.Run("plain client", func(t *testing.T) {
		s, logs := serve(t, false)
		_, err := whoIs(t, s, testConfig(t, "client"))
		if err == nil || !strings.Contains(err.Error(), "this port speaks TLS") {
			t.Fatalf("Dial = %v, want the server's word that its port speaks TLS", err)
		}
		t.Logf("Dial: %v", err)
		waitFor(t, waitTimeout, "the server's log line", func() error {
			if logs.count("tls handshake failed") == 0 {
				return errors.New("no line")
			}
			return nil
		})
	})
	t.Run("TLS client, plain server", func(t *testing.T) {
		s := startServer(t, nil, HandlerFunc(whoami))
		_, err := whoIs(t, s, client(t, ca.pool))
		t.Logf("Dial: %v", err)
		if err == nil || !strings.Contains(err.Error(), "tls handshake with "+s.Addr().String()) {
			t.Fatalf("Dial: %v, want a TLS handshake error", err)
		}
	})
	t.Run("mutual", func(t *testing.T) {
		s, _ := serve(t, true)
		got, err := whoIs(t, s, client(t, ca.pool, ca.issue(t, "cli-1")))
		if err != nil || got != `cn:cli-1 token="" proof=""` {
			t.Fatalf("whoami: %q, %v", got, err)
		}
	})
	t.Run("mutual, client certificate from another CA", func(t *testing.T) {
		s, logs := serve(t, true)
		cfg := client(t, ca.pool)
		// Sent although the server asks for its own CA's certificates,
		// which Go's client would otherwise answer with none.
		intruder := other.issue(t, "intruder")
		cfg.ClientTLS.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &intruder, nil }
		_, err := whoIs(t, s, cfg)
		refused(t, s, logs, err, "remote error: tls: unknown certificate authority")
		if !strings.Contains(logs.String(), "x509: certificate signed by unknown authority") {
			t.Fatalf("the server's log does not say why:\n%s", logs.String())
		}
	})
	t.Run("mutual, no client certificate", func(t *testing.T) {
		s, logs := serve(t, true)
		_, err := whoIs(t, s, client(t, ca.pool))
		refused(t, s, logs, err, "remote error: tls: certificate required")
	})
	t.Run("server name checked", func(t *testing.T) {
		s, logs := serve(t, false)
		cfg := client(t, ca.pool)
		cfg.ClientTLS.ServerName = "elsewhere.example"
		_, err := whoIs(t, s, cfg)
		refused(t, s, logs, err, "x509: certificate is valid for localhost, not elsewhere.example")
	})
	t.Run("no certificate is an invalid config", func(t *testing.T) {
		_, err := Listen("127.0.0.1:0", &Config{ServerTLS: &tls.Config{}}, HandlerFunc(echo))
		if !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("Listen: %v, want ErrInvalidConfig", err)
		}
	})
}
