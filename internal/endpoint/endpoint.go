// Package endpoint names endpoints: remote ones in errors and logs without
// their secrets (the HTTP sink and loader, the PostgreSQL sink and loader),
// and a node's own as its peers should dial them.
package endpoint

import (
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// URL returns s with any password replaced, also when s does not parse.
func URL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if i, j := strings.Index(s, "://"), strings.LastIndexByte(s, '@'); i >= 0 && j > i {
			return s[:i+3] + "xxxxx" + s[j:]
		}
		return s
	}
	return u.Redacted()
}

// Postgres names a database as user@host:port/db, never with its password.
func Postgres(c pgconn.Config) string {
	return c.User + "@" + net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))) + "/" + c.Database
}

// Advertisable turns a bound address into one peers can dial: a wildcard
// host is replaced with the configured host when it has one.
func Advertisable(bound net.Addr, configured string) string {
	tcp, ok := bound.(*net.TCPAddr)
	if !ok {
		return bound.String()
	}
	host, _, _ := net.SplitHostPort(configured)
	if tcp.IP.IsUnspecified() && host != "" && net.ParseIP(host) != nil && !net.ParseIP(host).IsUnspecified() {
		return net.JoinHostPort(host, strconv.Itoa(tcp.Port))
	}
	return tcp.String()
}
