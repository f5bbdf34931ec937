package tlsconf_test

import (
	"crypto/tls"
	"log"
	"net"

	"github.com/hoard-dev/hoard/internal/tlsconf"
)

// A node serves and dials with one Reloader, and reloads it on SIGHUP.
func ExampleNew() {
	r, err := tlsconf.New(tlsconf.Config{
		CAFile:         "/etc/hoard/tls/ca.pem",
		CertFile:       "/etc/hoard/tls/node.pem",
		KeyFile:        "/etc/hoard/tls/node-key.pem",
		VerifyIncoming: true,
		VerifyOutgoing: true,
	})
	if err != nil {
		log.Fatal(err) // names the file and the problem
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:7373", r.ServerConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	conn, err := tls.Dial("tcp", "10.0.0.2:7373", r.ClientConfigFor("10.0.0.2"))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	// On SIGHUP:
	if err := r.Reload(); err != nil {
		log.Print("keeping the old certificates: ", err)
	}
}

// The CLI verifies the node against the cluster's CA and presents its own
// certificate when the node verifies incoming connections.
func ExampleClientFromFiles() {
	cfg, err := tlsconf.ClientFromFiles("ca.pem", "cli.pem", "cli-key.pem")
	if err != nil {
		log.Fatal(err)
	}
	raw, err := net.Dial("tcp", "127.0.0.1:7373")
	if err != nil {
		log.Fatal(err)
	}
	cfg.ServerName = "127.0.0.1" // tls.Dial would set it from the address
	conn := tls.Client(raw, cfg)
	defer conn.Close()
}
