package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"

	"github.com/hoard-dev/hoard/internal/config"
	"github.com/hoard-dev/hoard/loaders"
	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/sinks"
	"github.com/hoard-dev/hoard/testcluster"
)

// TestBuildStoresKeepsTheNodesMeaning checks that the agent hands the node
// the file's settings untranslated: left out is the node's default, "none"
// is the node's none, and the loader's timeout is the store's.
func TestBuildStoresKeepsTheNodesMeaning(t *testing.T) {
	src := `
name = "n"
sink "stdout" "out" {}
counter "defaults" { sink = "out" }
buffer "off" {
  sink          = "out"
  interval      = "10s"
  jitter        = "none"
  retry_max     = 1
  flush_timeout = "none"
  max_size      = 100
  max_bytes     = "none"
}
cache "users" {
  ttl = "1h"
  loader "http" {
    url     = "http://127.0.0.1:9/users/{key}"
    timeout = "3s"
  }
}
cache "plain" {
  loader "http" { url = "http://127.0.0.1:9/{key}" }
}
`
	a, err := config.Parse("stores.hcl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	stores, closer, err := buildStores(context.Background(), a, io.Discard, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closer.Close() })

	named := func(kind node.StoreKind, name string, mod func(*node.StoreConfig)) node.StoreConfig {
		c := node.DefaultStoreConfig(kind)
		c.Name = name
		if mod != nil {
			mod(&c)
		}
		return c
	}
	want := []node.StoreConfig{
		named(node.KindCounter, "defaults", nil),
		named(node.KindBuffer, "off", func(c *node.StoreConfig) {
			c.Interval, c.Jitter, c.RetryMax, c.FlushTimeout, c.MaxSize, c.MaxBytes = 10*time.Second, -1, 1, -1, 100, -1
		}),
		named(node.KindCache, "users", func(c *node.StoreConfig) { c.TTL, c.LoadTimeout = time.Hour, 3*time.Second }),
		named(node.KindCache, "plain", nil),
	}
	if len(stores) != len(want) {
		t.Fatalf("built %d stores, want %d", len(stores), len(want))
	}
	for i, got := range stores {
		if err := got.Validate(); err != nil {
			t.Errorf("store %d: node refuses it: %v", i, err)
		}
		if (got.Kind == node.KindCache) != (got.Loader != nil) || (got.Kind != node.KindCache) != (got.Sink != nil) {
			t.Errorf("store %q: sink %v, loader %v", got.Name, got.Sink, got.Loader)
		}
		got.Sink, got.Loader = nil, nil
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("store %d:\n%+v\nwant\n%+v", i, got, want[i])
		}
	}
}

// TestBuildStoresPostgresStatements builds a postgres sink with the user's
// own statement and flushes a batch with ranges through it twice: the
// user's table gets it once.
func TestBuildStoresPostgresStatements(t *testing.T) {
	dsn := testcluster.PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	prefix := fmt.Sprintf("hoard_cmd_%016x", rand.Uint64())
	pages := prefix + "_pages"
	if _, err := conn.Exec(ctx, "CREATE TABLE "+pages+" (path text PRIMARY KEY, views bigint NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	origin := prefix + ".1" // unique: the batches and positions tables have their default names
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "DROP TABLE IF EXISTS "+pages+", "+prefix+"_values")
		_, _ = conn.Exec(context.Background(), "DELETE FROM hoard_positions WHERE origin = $1", origin)
	})

	src := fmt.Sprintf(`
name = "n"
sink "postgres" "db" {
  dsn                = %q
  create_tables      = true
  counters_table     = "%[2]s_counters"
  values_table       = "%[2]s_values"
  counters_statement = "INSERT INTO %[3]s (path, views) SELECT * FROM unnest($1::text[], $2::bigint[]) ON CONFLICT (path) DO UPDATE SET views = %[3]s.views + excluded.views"
}
counter "pageviews" { sink = "db" }
`, dsn, prefix, pages)
	a, err := config.Parse("pg.hcl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	stores, closer, err := buildStores(ctx, a, io.Discard, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closer.Close() })
	pos, ok := stores[0].Sink.(sinks.Positioner)
	if !ok {
		t.Fatalf("the postgres sink %T is not a Positioner", stores[0].Sink)
	}
	b := sinks.Batch{ID: origin + ".1", Store: "pageviews", Kind: sinks.KindCounter, Node: "n", Time: time.Now(),
		Counts: []sinks.Count{{Key: "/home", Count: 3, Partition: 2}}, Origin: origin, Ranges: []sinks.Range{{Partition: 2, First: 1, Last: 3}}}
	for range 2 {
		if err := pos.Flush(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	var views int64
	if err := conn.QueryRow(ctx, "SELECT views FROM "+pages+" WHERE path = '/home'").Scan(&views); err != nil || views != 3 {
		t.Fatalf("views %d, %v; want 3", views, err)
	}
	applied, err := pos.Applied(ctx, "pageviews", origin)
	if err != nil || !reflect.DeepEqual(applied, map[int][]sinks.Range{2: {{Partition: 2, First: 1, Last: 3}}}) {
		t.Fatalf("Applied: %v, %v", applied, err)
	}
}

// TestBuildStoresSeedsCaches checks that a cache with an init_url is seeded
// from it when its node starts, and serves the seeded entries without
// loading them, while a cache without one is not seeded.
func TestBuildStoresSeedsCaches(t *testing.T) {
	var loads atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/users" {
			_, _ = w.Write([]byte(`{"alice": "seeded alice", "bob": "seeded bob"}`))
			return
		}
		loads.Add(1)
		_, _ = w.Write([]byte("loaded " + strings.TrimPrefix(r.URL.Path, "/users/")))
	}))
	t.Cleanup(srv.Close)
	src := fmt.Sprintf(`
name = "n"
cache "seeded" {
  loader "http" {
    url      = "%[1]s/users/{key}"
    init_url = "%[1]s/users"
  }
}
cache "plain" {
  loader "http" { url = "%[1]s/users/{key}" }
}
`, srv.URL)
	a, err := config.Parse("seed.hcl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	stores, closer, err := buildStores(context.Background(), a, io.Discard, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closer.Close() })
	if _, ok := stores[0].Loader.(loaders.Initializer); !ok {
		t.Fatalf("the loader %T of a cache with an init_url is not an Initializer", stores[0].Loader)
	}
	if _, ok := stores[1].Loader.(loaders.Initializer); ok {
		t.Fatalf("the loader %T of a cache without an init_url is an Initializer", stores[1].Loader)
	}

	c := testcluster.New(t, 1, &testcluster.Options{Configure: func(i int, cfg *node.Config) { cfg.Stores = stores }})
	rpc := c.Node(0).RPCAddr()
	for store, want := range map[string]string{"seeded": "seeded alice\n", "plain": "loaded alice\n"} {
		out, errOut, code := hoard(t, nil, "get", store, "alice", "--rpc", rpc)
		if code != 0 || out != want {
			t.Fatalf("get %s alice: exit %d %s %q, want %q", store, code, errOut, out, want)
		}
	}
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d loads, want 1 (the plain cache's)", n)
	}
}

// TestBuildStoresPostgresInitQuery builds a postgres loader with an
// init_query and seeds from a real table.
func TestBuildStoresPostgresInitQuery(t *testing.T) {
	dsn := testcluster.PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	users := fmt.Sprintf("hoard_cmd_%016x_users", rand.Uint64())
	if _, err := conn.Exec(ctx, "CREATE TABLE "+users+" (id text PRIMARY KEY, profile jsonb, active bool)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = conn.Exec(context.Background(), "DROP TABLE IF EXISTS "+users) })
	if _, err := conn.Exec(ctx, "INSERT INTO "+users+` VALUES ('alice', '{"name": "Alice"}', true), ('bob', '{}', false)`); err != nil {
		t.Fatal(err)
	}

	src := fmt.Sprintf(`
name = "n"
cache "users" {
  loader "postgres" {
    dsn        = %q
    query      = "SELECT profile FROM %[2]s WHERE id = $1"
    init_query = "SELECT id, profile FROM %[2]s WHERE active"
  }
}
`, dsn, users)
	a, err := config.Parse("pg.hcl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	stores, closer, err := buildStores(ctx, a, io.Discard, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closer.Close() })
	init, ok := stores[0].Loader.(loaders.Initializer)
	if !ok {
		t.Fatalf("the loader %T of a cache with an init_query is not an Initializer", stores[0].Loader)
	}
	got, err := init.Init(ctx)
	if err != nil || len(got) != 1 || string(got["alice"]) != `{"name": "Alice"}` {
		t.Fatalf("Init = %q, %v; want alice's profile alone", got, err)
	}
	if res, err := stores[0].Loader.Load(ctx, "bob"); err != nil || string(res.Value) != "{}" {
		t.Fatalf("Load(bob) = %q, %v", res.Value, err)
	}
}
