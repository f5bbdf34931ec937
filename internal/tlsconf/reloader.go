package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Reloader holds a node's TLS material, read from the files of a Config,
// and hands out tls.Configs that use whatever material is current at each
// handshake: Reload swaps it for new handshakes while connections already
// established carry on.
type Reloader struct {
	cfg Config

	// reloadMu serializes Reload so that the material stored last is the
	// one read last.
	reloadMu sync.Mutex
	// cur is the current material, never nil.
	cur atomic.Pointer[material]
}

// material is one reading of the files.
type material struct {
	cert *tls.Certificate    // the node's certificate and key
	pool *x509.CertPool      // the CAs; nil without CAFile
	cas  []*x509.Certificate // the same CAs, in file order
}

// New validates cfg (see Config.Validate), reads its files and returns a
// Reloader. It is meant for a node, which serves TLS and dials its peers:
// TLS must be on (cfg.Enabled) with a certificate and key.
//
// Errors match ErrInvalid; those about one field or its file are
// *FieldErrors naming the file and the problem: missing (fs.ErrNotExist),
// not PEM, a key that does not match the certificate...
func New(cfg Config) (*Reloader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return nil, fieldErr("CertFile", "TLS is off: no certificate (CertFile) nor CA (CAFile)")
	}
	r := &Reloader{cfg: cfg}
	m, err := r.load()
	if err != nil {
		return nil, err
	}
	r.cur.Store(m)
	return r, nil
}

// Config returns the Config r reads.
func (r *Reloader) Config() Config { return r.cfg }

// Reload reads the files again. On success new handshakes use the new
// certificate and CAs, and established connections are left alone; on
// error (see New) r keeps its material and the error says why.
func (r *Reloader) Reload() error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	m, err := r.load()
	if err != nil {
		return err
	}
	r.cur.Store(m)
	return nil
}

// Leaf returns the certificate r currently presents, parsed (for logs:
// its serial number, NotAfter). The caller must not modify it.
func (r *Reloader) Leaf() *x509.Certificate { return r.cur.Load().cert.Leaf }

// Trust summarizes r's current material for peers to check before they
// admit this node (see cluster's Meta.Trust): the key identifier of the
// CA that signed the certificate (its Authority Key Identifier, "" if it
// has none) and those of the CAs it verifies others against (their Subject
// Key Identifiers; none when it verifies nobody), each as the hex of its
// first 8 bytes.
func (r *Reloader) Trust() (issuer string, cas []string) {
	m := r.cur.Load()
	short := func(id []byte) string { return hex.EncodeToString(id[:min(8, len(id))]) }
	if leaf := m.cert.Leaf; leaf != nil && len(leaf.AuthorityKeyId) > 0 {
		issuer = short(leaf.AuthorityKeyId)
	}
	if r.cfg.VerifyIncoming || r.cfg.VerifyOutgoing {
		for _, ca := range m.cas {
			if len(ca.SubjectKeyId) > 0 {
				cas = append(cas, short(ca.SubjectKeyId))
			}
		}
	}
	return issuer, cas
}

func (r *Reloader) load() (*material, error) {
	m := &material{}
	var err error
	if r.cfg.CAFile != "" {
		if m.pool, m.cas, err = loadCA(r.cfg.CAFile); err != nil {
			return nil, err
		}
	}
	if m.cert, err = loadKeyPair(r.cfg.CertFile, r.cfg.KeyFile); err != nil {
		return nil, err
	}
	return m, nil
}

// ServerConfig returns the configuration of r's listeners: TLS 1.3 and
// the current certificate at each handshake (GetCertificate). With
// VerifyIncoming a client certificate is required and its chain verified
// against the current CAs (VerifyConnection; ClientAuth is
// RequireAnyClientCert so that the pool is read at each handshake):
// clients without one, or with one from another CA, fail the handshake.
// Session tickets are off, so that no session outlives a CA a reload
// dropped. One returned Config serves across reloads; the caller may set
// other fields (NextProtos...) or clone it, but not replace those
// callbacks.
func (r *Reloader) ServerConfig() *tls.Config {
	c := &tls.Config{
		MinVersion:             tls.VersionTLS13,
		SessionTicketsDisabled: true,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return r.cur.Load().cert, nil
		},
	}
	if r.cfg.VerifyIncoming {
		c.ClientAuth = tls.RequireAnyClientCert
		c.VerifyConnection = r.verifyClient
	}
	return c
}

// verifyClient verifies a client's chain against the current CAs.
func (r *Reloader) verifyClient(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tlsconf: the client sent no certificate")
	}
	if _, err := cs.PeerCertificates[0].Verify(r.verifyOptions(cs, "", x509.ExtKeyUsageClientAuth)); err != nil {
		return fmt.Errorf("tlsconf: client certificate: %w", err)
	}
	return nil
}

// verifyOptions are the options to verify a peer's chain against the
// current CAs for usage, and name unless it is empty.
func (r *Reloader) verifyOptions(cs tls.ConnectionState, name string, usage x509.ExtKeyUsage) x509.VerifyOptions {
	opts := x509.VerifyOptions{
		Roots:         r.cur.Load().pool,
		DNSName:       name,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{usage},
	}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	return opts
}

// ClientConfig returns the configuration for dialling peers: TLS 1.3, the
// current certificate presented when the server asks for one.
//
// With VerifyOutgoing the server's chain is verified against the current
// CAs at each handshake, and its name against Config.ServerName or, when
// that is empty, the name the connection was made for: the ServerName of
// the tls.Config used (a clone of this one with ServerName set to the
// dialled host, as tls.Dial does). crypto/tls keeps an IP address out of
// that name (it is not sent as SNI), so a host dialled by IP address
// cannot be checked this way and the handshake fails, saying so: use
// ClientConfigFor(host) for those.
//
// Without VerifyOutgoing the connection is encrypted but the server is not
// authenticated (as Consul's verify_outgoing = false): no chain nor name
// is checked, even with a CA, and an active man in the middle can pose as
// the server. Client certificates are still presented.
func (r *Reloader) ClientConfig() *tls.Config { return r.clientConfig("") }

// ClientConfigFor is ClientConfig for dialling host, a DNS name or an IP
// address (without a port): with VerifyOutgoing the server's certificate
// must be valid for host (a DNS or IP SAN) unless Config.ServerName is
// set, which wins. host is also sent as SNI when it is a name.
func (r *Reloader) ClientConfigFor(host string) *tls.Config { return r.clientConfig(host) }

func (r *Reloader) clientConfig(host string) *tls.Config {
	c := &tls.Config{
		MinVersion: tls.VersionTLS13,
		ServerName: host,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return r.cur.Load().cert, nil
		},
		// The chain is verified by VerifyConnection against the current
		// CAs (RootCAs would pin those of today), or not at all.
		InsecureSkipVerify: true,
	}
	if r.cfg.ServerName != "" {
		c.ServerName = r.cfg.ServerName
	}
	if r.cfg.VerifyOutgoing {
		c.VerifyConnection = func(cs tls.ConnectionState) error { return r.verifyServer(cs, host) }
	}
	return c
}

// ErrNoServerName is returned by a handshake of ClientConfig's when the
// server's certificate cannot be checked for lack of a name: an IP address
// was dialled (see ClientConfigFor).
var ErrNoServerName = errors.New("tlsconf: no server name to verify the certificate against: an IP address was dialled; use ClientConfigFor(host) or set ServerName")

// verifyServer verifies the server's chain against the current CAs and its
// name against, in order, Config.ServerName, host, or the SNI sent.
func (r *Reloader) verifyServer(cs tls.ConnectionState, host string) error {
	name := r.cfg.ServerName
	if name == "" {
		name = host
	}
	if name == "" {
		name = cs.ServerName
	}
	if name == "" {
		return ErrNoServerName
	}
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tlsconf: the server sent no certificate")
	}
	if _, err := cs.PeerCertificates[0].Verify(r.verifyOptions(cs, name, x509.ExtKeyUsageServerAuth)); err != nil {
		return fmt.Errorf("tlsconf: server certificate for %q: %w", name, err)
	}
	return nil
}

// ClientFromFiles returns the configuration of a client (the CLI, a Go
// program) of a node: TLS 1.3, the server verified against the CAs of
// caFile, or the system's when caFile is empty, and its name against the
// host dialled (tls.Dial sets ServerName; an IP address is checked against
// the certificate's IP SANs); certFile and keyFile, both or neither, are
// the certificate presented for mutual TLS. The files are read once.
// Errors are *FieldErrors (Field "CAFile", "CertFile" or "KeyFile").
func ClientFromFiles(caFile, certFile, keyFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS13}
	switch {
	case certFile == "" && keyFile != "":
		return nil, fieldErr("KeyFile", "a key without a certificate (CertFile)")
	case certFile != "" && keyFile == "":
		return nil, fieldErr("CertFile", "a certificate without its key (KeyFile)")
	case certFile != "":
		cert, err := loadKeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{*cert}
	}
	if caFile != "" {
		pool, _, err := loadCA(caFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	return c, nil
}
