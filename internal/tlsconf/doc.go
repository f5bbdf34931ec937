// Package tlsconf builds the TLS configurations of a node and its clients
// from PEM files, and reloads the certificates without dropping
// connections.
//
// A node reads its files once with New and hands the same Reloader's
// configurations to its listeners and dialers; on SIGHUP it calls Reload,
// which applies to new handshakes only and, on error, keeps what it had:
//
//	r, err := tlsconf.New(cfg) // errors.Is(err, tlsconf.ErrInvalid)
//	if err != nil {
//		return err
//	}
//	ln = tls.NewListener(ln, r.ServerConfig())
//	conn, err := tls.Dial("tcp", peer, r.ClientConfigFor(host))
//	...
//	if err := r.Reload(); err != nil {
//		logger.Error("tls reload failed, keeping the old certificates", "error", err)
//	}
//
// Everything is TLS 1.3. VerifyIncoming makes it mutual: a client must
// present a certificate of the CA. VerifyOutgoing makes a client verify
// the server's chain against the CA and its name (ServerName, or the host
// dialled, DNS or IP SAN); without it the connection is encrypted but the
// server is not authenticated.
//
// A client of a node (the CLI) uses ClientFromFiles instead: its files are
// read once, and it always verifies the server.
package tlsconf
