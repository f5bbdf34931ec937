package endpoint

import (
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
