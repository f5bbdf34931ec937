package tlsconf

import (
	"encoding/hex"
	"testing"

	"github.com/hoard-dev/hoard/internal/testcerts"
)

// TestTrust: the issuer of the node's certificate and the CAs it verifies
// against are named by their key identifiers; a node that verifies nobody
// names no CA.
func TestTrust(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, dir, "ca")
	other := testcerts.NewCA(t, dir, "other")
	c := ca.Issue(t, dir, "node")
	r := mustNew(t, nodeConfig(ca, c))
	issuer, cas := r.Trust()
	want := hex.EncodeToString(ca.Certificate().SubjectKeyId[:8])
	if issuer != want || len(cas) != 1 || cas[0] != want {
		t.Fatalf("Trust() = %q, %q; want %q, [%q]", issuer, cas, want, want)
	}
	if want == hex.EncodeToString(other.Certificate().SubjectKeyId[:8]) {
		t.Fatal("two CAs share a key identifier")
	}
	cfg := nodeConfig(ca, c)
	cfg.VerifyIncoming, cfg.VerifyOutgoing = false, false
	if issuer, cas := mustNew(t, cfg).Trust(); issuer != want || cas != nil {
		t.Fatalf("without verification Trust() = %q, %q; want %q and no CA", issuer, cas, want)
	}
}
