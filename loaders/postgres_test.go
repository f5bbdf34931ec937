package loaders_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hoard-dev/hoard/loaders"
	"github.com/hoard-dev/hoard/testcluster"
)

// testDB is a connection for setting up tables and looking at the server.
type testDB struct {
	t    *testing.T
	dsn  string
	conn *pgx.Conn
}

func newTestDB(t *testing.T) *testDB {
	t.Helper()
	dsn := testcluster.PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connecting to HOARD_TEST_POSTGRES_DSN: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return &testDB{t: t, dsn: dsn, conn: conn}
}

func (db *testDB) exec(sql string, args ...any) {
	db.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := db.conn.Exec(ctx, sql, args...); err != nil {
		db.t.Fatalf("%s: %v", sql, err)
	}
}

// table creates a table with a unique name from columns ("k text primary
// key, v bytea"), drops it when the test ends and returns its name.
func (db *testDB) table(columns string) string {
	db.t.Helper()
	name := fmt.Sprintf("hoard_loaders_%d", rand.Uint64())
	db.exec(fmt.Sprintf("CREATE TABLE %s (%s)", name, columns))
	db.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := db.conn.Exec(ctx, "DROP TABLE IF EXISTS "+name); err != nil {
			db.t.Errorf("dropping %s: %v", name, err)
		}
	})
	return name
}

// loader returns a Postgres loader for query, closed when the test ends.
func (db *testDB) loader(query string, timeout time.Duration) *loaders.Postgres {
	db.t.Helper()
	return db.loaderDSN(db.dsn, query, timeout)
}

func (db *testDB) loaderDSN(dsn, query string, timeout time.Duration) *loaders.Postgres {
	db.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := loaders.NewPostgres(ctx, loaders.PostgresConfig{DSN: dsn, Query: query, Timeout: timeout})
	if err != nil {
		db.t.Fatal(err)
	}
	db.t.Cleanup(p.Close)
	return p
}

func TestPostgresText(t *testing.T) {
	db := newTestDB(t)
	tbl := db.table("k text PRIMARY KEY, v text, vc varchar(20), j jsonb")
	rows := map[string]string{
		"u1":          "hello",
		"o'brien; --": "quoted key",
		"日本":          "wörld ✓",
		"empty":       "",
	}
	for k, v := range rows {
		db.exec("INSERT INTO "+tbl+" VALUES ($1, $2::text, $2::text, jsonb_build_object('v', $2::text))", k, v)
	}
	for _, col := range []string{"v", "vc"} {
		p := db.loader("SELECT "+col+" FROM "+tbl+" WHERE k = $1", 0)
		for k, want := range rows {
			t.Run(col+"/"+k, func(t *testing.T) {
				res, err := p.Load(context.Background(), k)
				if err != nil {
					t.Fatal(err)
				}
				if string(res.Value) != want || res.Value == nil {
					t.Fatalf("value %q, want %q", res.Value, want)
				}
			})
		}
	}
	p := db.loader("SELECT j FROM "+tbl+" WHERE k = $1", 0)
	res, err := p.Load(context.Background(), "u1")
	if err != nil || string(res.Value) != `{"v": "hello"}` {
		t.Fatalf("jsonb: %q, %v", res.Value, err)
	}
}

func TestPostgresBytea(t *testing.T) {
	db := newTestDB(t)
	tbl := db.table("k text PRIMARY KEY, v bytea")
	rows := map[string][]byte{
		"bin":   {0x00, 0xff, 0xfe, 0x80, 0x00, '\\', 'x'},
		"text":  []byte("plain"),
		"empty": {},
	}
	for k, v := range rows {
		db.exec("INSERT INTO "+tbl+" VALUES ($1, $2)", k, v)
	}
	// The value is the same whichever protocol the DSN asks for: bytea
	// comes in binary with the extended protocol, as hex text with the
	// simple one (what PgBouncer setups use).
	for _, mode := range []string{"cache_statement", "exec", "simple_protocol"} {
		dsn := withParam(db.dsn, "default_query_exec_mode="+mode)
		p := db.loaderDSN(dsn, "SELECT v FROM "+tbl+" WHERE k = $1", 0)
		for k, want := range rows {
			t.Run(mode+"/"+k, func(t *testing.T) {
				res, err := p.Load(context.Background(), k)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(res.Value, want) || res.Value == nil {
					t.Fatalf("value %q, want %q", res.Value, want)
				}
			})
		}
	}
}

// withParam returns dsn, a URL or key=value DSN, with one more parameter.
func withParam(dsn, param string) string {
	switch {
	case !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://"):
		return dsn + " " + param
	case strings.Contains(dsn, "?"):
		return dsn + "&" + param
	}
	return dsn + "?" + param
}

func TestPostgresNotFound(t *testing.T) {
	db := newTestDB(t)
	tbl := db.table("k text PRIMARY KEY, v text")
	db.exec("INSERT INTO " + tbl + " VALUES ('null', NULL)")
	p := db.loader("SELECT v FROM "+tbl+" WHERE k = $1", 0)
	for _, key := range []string{"absent", "null"} {
		t.Run(key, func(t *testing.T) {
			_, err := p.Load(context.Background(), key)
			if !errors.Is(err, loaders.ErrNotFound) {
				t.Fatalf("error %v, want one wrapping ErrNotFound", err)
			}
		})
	}
}

func TestPostgresQueryErrors(t *testing.T) {
	db := newTestDB(t)
	tbl := db.table("k text, v text, n int")
	db.exec("INSERT INTO " + tbl + " VALUES ('a', 'one', 1), ('dup', 'x', 2), ('dup', 'y', 3)")
	tests := []struct {
		name, query, key string
		want             string // in the error
	}{
		{"missing table", "SELECT v FROM " + tbl + "_missing WHERE k = $1", "a", "does not exist"},
		{"syntax", "SELEC v FROM " + tbl + " WHERE k = $1", "a", "syntax error"},
		{"runtime", "SELECT (1 / (n - 1))::text FROM " + tbl + " WHERE k = $1", "a", "division by zero"},
		{"two columns", "SELECT k, v FROM " + tbl + " WHERE k = $1", "a", "2 columns"},
		{"two columns no row", "SELECT k, v FROM " + tbl + " WHERE k = $1", "absent", "2 columns"},
		{"no columns", "SELECT FROM " + tbl + " WHERE k = $1", "a", "0 columns"},
		{"two rows", "SELECT v FROM " + tbl + " WHERE k = $1", "dup", "more than one row"},
		{"integer column", "SELECT n FROM " + tbl + " WHERE k = $1", "a", "cast"},
		{"not a statement returning rows", "UPDATE " + tbl + " SET v = v WHERE k = $1", "a", "0 columns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := db.loader(tt.query, 0)
			_, err := p.Load(context.Background(), tt.key)
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, loaders.ErrNotFound) {
				t.Fatalf("error %v wraps ErrNotFound", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "loaders: postgres") {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
			// The pool's connections survive query errors.
			if _, err := p.Load(context.Background(), tt.key); err == nil {
				t.Fatal("second load: no error")
			}
		})
	}

	// Casting in the query is the remedy for other types; so is the key
	// for non-text key columns.
	p := db.loader("SELECT n::text FROM "+tbl+" WHERE n = $1::text::int", 0)
	if res, err := p.Load(context.Background(), "1"); err != nil || string(res.Value) != "1" {
		t.Fatalf("cast: %q, %v", res.Value, err)
	}
}

func TestPostgresTimeout(t *testing.T) {
	db := newTestDB(t)
	const timeout = 500 * time.Millisecond
	p := db.loader("SELECT pg_sleep(10)::text WHERE $1::text IS NOT NULL", timeout)
	start := time.Now()
	_, err := p.Load(context.Background(), "k")
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want one wrapping context.DeadlineExceeded", err)
	}
	if elapsed < timeout || elapsed > timeout+2*time.Second {
		t.Fatalf("returned after %v, want about %v", elapsed, timeout)
	}

	// The server was asked to cancel the query: it is not left sleeping.
	testcluster.WaitFor(t, 5*time.Second, "the server to cancel the query", func() error {
		var n int
		err := db.conn.QueryRow(context.Background(),
			"SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(10)%' AND state = 'active' AND pid <> pg_backend_pid()").Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			return fmt.Errorf("%d pg_sleep queries still running on the server", n)
		}
		return nil
	})

	// The caller's context can cut a load shorter than Timeout.
	slow := db.loader("SELECT pg_sleep(10)::text WHERE $1::text IS NOT NULL", time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start = time.Now()
	_, err = slow.Load(ctx, "k")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want one wrapping context.Canceled", err)
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Fatalf("cancelled load returned after %v", elapsed)
	}

	// The loader still works afterwards.
	quick := db.loader("SELECT 'pong ' || $1", timeout)
	if res, err := quick.Load(context.Background(), "k"); err != nil || string(res.Value) != "pong k" {
		t.Fatalf("after timeout: %q, %v", res.Value, err)
	}
	if res, err := p.Load(context.Background(), "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second slow load: %q, %v", res.Value, err)
	}
}

func TestPostgresConcurrent(t *testing.T) {
	db := newTestDB(t)
	tbl := db.table("k text PRIMARY KEY, v text")
	db.exec("INSERT INTO " + tbl + " SELECT 'k' || i, 'v' || i FROM generate_series(1, 100) i")
	p := db.loader("SELECT v FROM "+tbl+" WHERE k = $1", 0)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 50 {
				n := (g*50+i)%120 + 1
				res, err := p.Load(context.Background(), fmt.Sprintf("k%d", n))
				switch {
				case n > 100 && !errors.Is(err, loaders.ErrNotFound):
					t.Errorf("k%d: %q, %v; want not found", n, res.Value, err)
				case n <= 100 && (err != nil || string(res.Value) != fmt.Sprintf("v%d", n)):
					t.Errorf("k%d: %q, %v", n, res.Value, err)
				}
			}
		})
	}
	wg.Wait()
}

func TestPostgresClose(t *testing.T) {
	db := newTestDB(t)
	p := db.loader("SELECT $1::text", 0)
	if _, err := p.Load(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	p.Close()
	p.Close()
	if _, err := p.Load(context.Background(), "k"); err == nil {
		t.Fatal("load after Close: no error")
	}
}

func TestNewPostgresErrors(t *testing.T) {
	const password = "s3cr3tpw"
	ctx := context.Background()
	tests := []struct {
		name string
		cfg  loaders.PostgresConfig
		want string
	}{
		{"no DSN", loaders.PostgresConfig{Query: "SELECT $1::text"}, "DSN is required"},
		{"no query", loaders.PostgresConfig{DSN: "postgres://u:" + password + "@127.0.0.1:1/db"}, "Query is required"},
		{"negative timeout", loaders.PostgresConfig{DSN: "postgres://u:" + password + "@127.0.0.1:1/db", Query: "SELECT $1::text", Timeout: -1}, "Timeout"},
		{"blank init query", loaders.PostgresConfig{DSN: "postgres://u:" + password + "@127.0.0.1:1/db", Query: "SELECT $1::text", InitQuery: " \n\t"}, "InitQuery is blank"},
		{"bad URL port", loaders.PostgresConfig{DSN: "postgres://u:" + password + "@127.0.0.1:port/db", Query: "SELECT $1::text"}, "invalid DSN"},
		{"bad key=value", loaders.PostgresConfig{DSN: "host=127.0.0.1 password=" + password + " sslmode=sometimes", Query: "SELECT $1::text"}, "invalid DSN"},
		{"nobody listening", loaders.PostgresConfig{DSN: "postgres://u:" + password + "@127.0.0.1:1/db?sslmode=disable", Query: "SELECT $1::text", Timeout: 2 * time.Second}, "u@127.0.0.1:1/db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			p, err := loaders.NewPostgres(ctx, tt.cfg)
			if err == nil {
				p.Close()
				t.Fatal("no error")
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}

	t.Run("missing database", func(t *testing.T) {
		dsn := testcluster.PostgresDSN(t)
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		bad := withParam(dsn, "dbname="+cfg.Database+"_missing")
		p, err := loaders.NewPostgres(ctx, loaders.PostgresConfig{DSN: bad, Query: "SELECT $1::text"})
		if err == nil {
			p.Close()
			t.Fatalf("NewPostgres(%q): no error", bad)
		}
		if !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("error %q does not say the database does not exist", err)
		}
	})
}

// seeder returns a Postgres loader with initQuery, closed when the test
// ends.
func (db *testDB) seeder(dsn, initQuery string, timeout time.Duration) *loaders.Postgres {
	db.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := loaders.NewPostgres(ctx, loaders.PostgresConfig{DSN: dsn, Query: "SELECT $1::text", InitQuery: initQuery, Timeout: timeout})
	if err != nil {
		db.t.Fatal(err)
	}
	db.t.Cleanup(p.Close)
	return p
}

func TestPostgresInit(t *testing.T) {
	db := newTestDB(t)
	tbl := db.table("k text PRIMARY KEY, t text, b bytea, j jsonb, active bool")
	rows := map[string][]byte{
		"u1":          []byte("hello"),
		"o'brien; --": []byte("quoted key"),
		"日本":          []byte("wörld ✓"),
		"empty":       {},
		"bin":         {0x00, 0xff, '\\', 'x'},
	}
	for k, v := range rows {
		db.exec("INSERT INTO "+tbl+" VALUES ($1, $2::bytea::text, $2, jsonb_build_object('k', $1::text), true)", k, v)
	}
	db.exec("INSERT INTO " + tbl + " VALUES ('null', NULL, NULL, NULL, true), ('inactive', 'x', 'x', '{}', false)")

	for _, mode := range []string{"cache_statement", "exec", "simple_protocol"} {
		dsn := withParam(db.dsn, "default_query_exec_mode="+mode)
		t.Run(mode+"/bytea", func(t *testing.T) {
			p := db.seeder(dsn, "SELECT k, b FROM "+tbl+" WHERE active", 0)
			got, err := initOf(t, p.Loader()).Init(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(rows) { // "null" skipped, "inactive" not selected
				t.Fatalf("Init = %q, want %q", got, rows)
			}
			for k, want := range rows {
				if v, ok := got[k]; !ok || !bytes.Equal(v, want) || v == nil {
					t.Fatalf("Init = %q, want %q", got, rows)
				}
			}
		})
	}
	t.Run("text and jsonb", func(t *testing.T) {
		p := db.seeder(db.dsn, "SELECT j->>'k', j FROM "+tbl+" WHERE k IN ('u1', '日本')", 0)
		got, err := initOf(t, p.Loader()).Init(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || string(got["u1"]) != `{"k": "u1"}` || string(got["日本"]) != `{"k": "日本"}` {
			t.Fatalf("Init = %q", got)
		}
	})
	t.Run("no rows", func(t *testing.T) {
		p := db.seeder(db.dsn, "SELECT k, t FROM "+tbl+" WHERE false", 0)
		got, err := initOf(t, p.Loader()).Init(context.Background())
		if err != nil || len(got) != 0 {
			t.Fatalf("Init = %q, %v; want no entries", got, err)
		}
	})
	t.Run("the seeding loader still loads", func(t *testing.T) {
		p := db.seeder(db.dsn, "SELECT k, t FROM "+tbl, 0)
		res, err := p.Loader().Load(context.Background(), "k")
		if err != nil || string(res.Value) != "k" {
			t.Fatalf("Load = %q, %v", res.Value, err)
		}
	})
}

func TestPostgresWithoutInitQueryDoesNotSeed(t *testing.T) {
	db := newTestDB(t)
	p := db.loader("SELECT $1::text", 0)
	if l, ok := p.Loader().(loaders.Initializer); ok {
		t.Fatalf("loader %T without an InitQuery is an Initializer", l)
	}
	if p.Loader() != loaders.Loader(p) {
		t.Fatalf("Loader() = %T, want the Postgres loader itself", p.Loader())
	}
}

func TestPostgresInitErrors(t *testing.T) {
	db := newTestDB(t)
	tbl := db.table("k text, v text, n int")
	db.exec("INSERT INTO " + tbl + " VALUES ('a', 'one', 1), (NULL, 'two', 2)")
	tests := []struct {
		name, query string
		timeout     time.Duration
		want        string // in the error
	}{
		{"missing table", "SELECT k, v FROM " + tbl + "_missing", 0, "does not exist"},
		{"syntax", "SELEC k, v FROM " + tbl, 0, "syntax error"},
		{"one column", "SELECT v FROM " + tbl, 0, "1 columns, want 2"},
		{"three columns", "SELECT k, v, n FROM " + tbl, 0, "3 columns, want 2"},
		{"three columns no row", "SELECT k, v, n FROM " + tbl + " WHERE false", 0, "3 columns, want 2"},
		{"integer key", "SELECT n, v FROM " + tbl, 0, "cast"},
		{"integer value", "SELECT k, n FROM " + tbl + " WHERE k IS NOT NULL", 0, "cast"},
		{"null key", "SELECT k, v FROM " + tbl, 0, "NULL key"},
		{"runtime", "SELECT k, (1 / (n - 1))::text FROM " + tbl, 0, "division by zero"},
		{"timeout", "SELECT k, v FROM " + tbl + ", pg_sleep(10)", 300 * time.Millisecond, "deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := db.seeder(db.dsn, tt.query, tt.timeout)
			got, err := initOf(t, p.Loader()).Init(context.Background())
			if err == nil {
				t.Fatalf("Init = %q, want an error", got)
			}
			if errors.Is(err, loaders.ErrStopStart) {
				t.Fatalf("error %v wraps ErrStopStart", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "init query") {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
			// The pool's connections survive and the loader still loads.
			if res, err := p.Load(context.Background(), "k"); err != nil || string(res.Value) != "k" {
				t.Fatalf("Load after the init failed: %q, %v", res.Value, err)
			}
		})
	}
}
