package tlsconf

import (
	"testing"

	"github.com/hoard-dev/hoard/internal/testcerts"
)

// nodeConfig is a node's Config with ca and cert, verifying both ways.
func nodeConfig(ca *testcerts.CA, c testcerts.Cert) Config {
	return Config{CAFile: ca.File, CertFile: c.CertFile, KeyFile: c.KeyFile, VerifyIncoming: true, VerifyOutgoing: true}
}

func mustNew(t *testing.T, cfg Config) *Reloader {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}
