// Package tlsconf builds the TLS configurations of a node and its clients
// from PEM files, and reloads the certificates without dropping
// connections.
package tlsconf

// Config names a node's or a client's TLS files and checks. The zero value
// (no files) means TLS is off.
type Config struct {
	// CAFile is the PEM bundle of the certificate authorities that sign
	// the cluster's certificates: peers' and clients' certificates are
	// verified against it.
	CAFile string
	// CertFile and KeyFile are this end's certificate and private key
	// (PEM). A node needs both to serve TLS.
	CertFile string
	KeyFile  string
	// VerifyIncoming makes a server require a client certificate signed by
	// the CA (mutual TLS).
	VerifyIncoming bool
	// VerifyOutgoing makes a client verify the server's certificate against
	// the CA (and its name, see ServerName).
	VerifyOutgoing bool
	// ServerName, when set, is the name every server certificate is
	// checked against, whatever address was dialled; empty means the
	// dialled host.
	ServerName string
}

// Enabled reports whether TLS is on.
func (c Config) Enabled() bool { return c.CertFile != "" || c.CAFile != "" }
