package endpoint

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestURLHidesThePassword(t *testing.T) {
	for _, s := range []string{"https://u:s3cret@example.com/x", "http://u:s3cret@[bad/x", "postgres://u:s3cret@h:5432/db"} {
		if got := URL(s); strings.Contains(got, "s3cret") {
			t.Errorf("URL(%q) = %q shows the password", s, got)
		}
	}
	if got := URL("http://example.com/a?b=1"); got != "http://example.com/a?b=1" {
		t.Errorf("a URL without a password changed: %q", got)
	}
}

func TestPostgres(t *testing.T) {
	got := Postgres(pgconn.Config{User: "u", Password: "s3cret", Host: "127.0.0.1", Port: 5432, Database: "db"})
	if got != "u@127.0.0.1:5432/db" {
		t.Fatalf("got %q", got)
	}
}

func TestCancelledSaysWhy(t *testing.T) {
	errServer := errors.New("ERROR: canceling statement due to user request (SQLSTATE 57014)")
	live := context.Background()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		err     error
		wantCtx bool   // the result wraps context.Canceled
		want    string // the result's message, "" for a nil error
	}{
		{name: "no error", ctx: cancelled, err: nil},
		{name: "ctx live", ctx: live, err: errServer, want: errServer.Error()},
		{name: "already ctx's error", ctx: cancelled, err: fmt.Errorf("query: %w", context.Canceled), wantCtx: true, want: "query: context canceled"},
		{name: "cancelled by the server", ctx: cancelled, err: errServer, wantCtx: true, want: "context canceled (" + errServer.Error() + ")"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Cancelled(tt.ctx, tt.err)
			if tt.want == "" {
				if got != nil {
					t.Fatalf("Cancelled = %v, want nil", got)
				}
				return
			}
			if got == nil || got.Error() != tt.want {
				t.Fatalf("Cancelled = %v, want %q", got, tt.want)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("Cancelled = %v does not wrap %v", got, tt.err)
			}
			if errors.Is(got, context.Canceled) != tt.wantCtx {
				t.Errorf("Cancelled = %v: wraps context.Canceled %v, want %v", got, !tt.wantCtx, tt.wantCtx)
			}
		})
	}
}

func TestAdvertisableNamesADialableHost(t *testing.T) {
	wild := &net.TCPAddr{IP: net.IPv4zero, Port: 7373}
	tests := []struct {
		name       string
		bound      net.Addr
		configured string
		fallback   string
		want       string
	}{
		{name: "specific bind", bound: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 7373}, configured: "10.0.0.5:0", fallback: "10.9.9.9", want: "10.0.0.5:7373"},
		{name: "wildcard, configured host", bound: wild, configured: "10.0.0.5:7373", fallback: "10.9.9.9", want: "10.0.0.5:7373"},
		{name: "wildcard, gossip host", bound: wild, configured: "0.0.0.0:7373", fallback: "172.18.0.3", want: "172.18.0.3:7373"},
		{name: "wildcard, empty host", bound: wild, configured: ":7373", fallback: "172.18.0.3", want: "172.18.0.3:7373"},
		{name: "wildcard, nothing better", bound: wild, configured: "0.0.0.0:7373", fallback: "", want: "0.0.0.0:7373"},
		{name: "wildcard, wildcard fallback", bound: wild, configured: "0.0.0.0:7373", fallback: "0.0.0.0", want: "0.0.0.0:7373"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Advertisable(tt.bound, tt.configured, tt.fallback); got != tt.want {
				t.Fatalf("Advertisable(%v, %q, %q) = %q, want %q", tt.bound, tt.configured, tt.fallback, got, tt.want)
			}
		})
	}
}
