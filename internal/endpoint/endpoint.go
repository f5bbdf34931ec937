// Package endpoint names endpoints: remote ones in errors and logs without
// their secrets (the HTTP sink and loader, the PostgreSQL sink and loader),
// and a node's own as its peers should dial them. Cancelled makes the error
// of a call to a remote one that our context cut short say so.
package endpoint

import (
	"context"
	"errors"
	"fmt"
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
// host is replaced with the configured host when that is a specific IP,
// else with fallback (the host peers reach the node's gossip at) when that
// is one. Otherwise the bound address is returned as it is.
func Advertisable(bound net.Addr, configured, fallback string) string {
	tcp, ok := bound.(*net.TCPAddr)
	if !ok {
		return bound.String()
	}
	if !tcp.IP.IsUnspecified() {
		return tcp.String()
	}
	host, _, _ := net.SplitHostPort(configured)
	for _, h := range []string{host, fallback} {
		if ip := net.ParseIP(h); ip != nil && !ip.IsUnspecified() {
			return net.JoinHostPort(h, strconv.Itoa(tcp.Port))
		}
	}
	return tcp.String()
}

// HTTPURL parses raw as an absolute http or https URL with a host. Its
// errors name no URL, for the caller to prefix with its own name for it:
// endpoint.URL(raw) when u is nil (raw does not parse), u.Redacted()
// otherwise.
func HTTPURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("invalid URL: %w", errors.Unwrap(err))
	case u.Scheme != "http" && u.Scheme != "https":
		return u, errors.New("URL scheme must be http or https")
	case u.Host == "" || u.Opaque != "":
		return u, errors.New("URL needs a host")
	}
	return u, nil
}

// Name is how an error names the URL raw that HTTPURL parsed as u.
func Name(raw string, u *url.URL) string {
	if u == nil {
		return URL(raw)
	}
	return u.Redacted()
}

// Cancelled returns err, the error of a call made under ctx, wrapping
// ctx.Err() as well when ctx has ended and err does not wrap it already:
// the server cancelled the call at our request (a PostgreSQL statement
// cancelled when ctx ended), and its error alone ("canceling statement due
// to user request") would not say why. errors.Is then matches both
// ctx.Err() and err's own chain. A nil err, or a ctx still live, returns err
// as it is.
func Cancelled(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil || errors.Is(err, ctx.Err()) {
		return err
	}
	return fmt.Errorf("%w (%w)", ctx.Err(), err)
}
