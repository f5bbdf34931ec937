// Package endpoint names remote endpoints in errors and logs without their
// secrets: the HTTP sink and loader, the PostgreSQL sink and loader.
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
