package sinks_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hoard-dev/hoard/sinks"
	"github.com/hoard-dev/hoard/testcluster"
)

// pgWhen is a batch time PostgreSQL stores exactly (microseconds).
var pgWhen = time.Date(2026, 11, 21, 12, 0, 0, 123000, time.UTC)

// pgWithParam returns dsn, a URL or key=value DSN, with one more parameter.
func pgWithParam(dsn, param string) string {
	switch {
	case !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://"):
		return dsn + " " + param
	case strings.Contains(dsn, "?"):
		return dsn + "&" + param
	}
	return dsn + "?" + param
}

// pgTestDB is a connection for setting up tables and looking at them.
type pgTestDB struct {
	t    testing.TB
	dsn  string
	conn *pgx.Conn
}

func newPGTestDB(t testing.TB) *pgTestDB {
	t.Helper()
	dsn := testcluster.PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connecting to HOARD_TEST_POSTGRES_DSN: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return &pgTestDB{t: t, dsn: dsn, conn: conn}
}

// on returns db for the subtest t: its failures and cleanups are t's.
func (db *pgTestDB) on(t testing.TB) *pgTestDB {
	c := *db
	c.t = t
	return &c
}

func (db *pgTestDB) exec(sql string, args ...any) {
	db.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := db.conn.Exec(ctx, sql, args...); err != nil {
		db.t.Fatalf("%s: %v", sql, err)
	}
}

// config returns a sink configuration with tables of unique names, which
// are dropped when the test ends, and CreateTables set.
func (db *pgTestDB) config() sinks.PostgresConfig {
	db.t.Helper()
	prefix := fmt.Sprintf("hoard_sinks_%016x", rand.Uint64())
	cfg := sinks.PostgresConfig{
		DSN:            db.dsn,
		CountersTable:  prefix + "_counters",
		ValuesTable:    prefix + "_values",
		BatchesTable:   prefix + "_batches",
		PositionsTable: prefix + "_positions",
		CreateTables:   true,
	}
	db.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, tbl := range []string{cfg.CountersTable, cfg.ValuesTable, cfg.BatchesTable, cfg.PositionsTable} {
			if _, err := db.conn.Exec(ctx, "DROP TABLE IF EXISTS "+tbl); err != nil {
				db.t.Errorf("dropping %s: %v", tbl, err)
			}
		}
	})
	return cfg
}

// sink returns a sink for cfg, closed when the test ends.
func (db *pgTestDB) sink(cfg sinks.PostgresConfig) *sinks.Postgres {
	db.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := sinks.NewPostgres(ctx, cfg)
	if err != nil {
		db.t.Fatal(err)
	}
	db.t.Cleanup(p.Close)
	return p
}

// counts returns the counters table's counts of store.
func (db *pgTestDB) counts(cfg sinks.PostgresConfig, store string) map[string]int64 {
	db.t.Helper()
	rows, err := db.conn.Query(context.Background(), "SELECT key, count FROM "+cfg.CountersTable+" WHERE store = $1", store)
	if err != nil {
		db.t.Fatal(err)
	}
	out := map[string]int64{}
	var k string
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&k, &n}, func() error { out[k] = n; return nil }); err != nil {
		db.t.Fatal(err)
	}
	return out
}

// valueRow is a row of the values table.
type valueRow struct {
	Store, Key string
	Value      []byte
	Position   int32
	Batch      string
	Time       time.Time
}

// values returns the values table's rows by batch, key and position.
func (db *pgTestDB) values(cfg sinks.PostgresConfig) []valueRow {
	db.t.Helper()
	rows, err := db.conn.Query(context.Background(),
		"SELECT store, key, value, position, batch, time FROM "+cfg.ValuesTable+" ORDER BY batch, key, position")
	if err != nil {
		db.t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[valueRow])
	if err != nil {
		db.t.Fatal(err)
	}
	for i := range out {
		out[i].Time = out[i].Time.UTC()
	}
	return out
}

// batches returns the IDs in the batches table, sorted.
func (db *pgTestDB) batches(cfg sinks.PostgresConfig) []string {
	db.t.Helper()
	rows, err := db.conn.Query(context.Background(), "SELECT batch FROM "+cfg.BatchesTable+" ORDER BY batch")
	if err != nil {
		db.t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		db.t.Fatal(err)
	}
	return out
}

func counterBatch(id, store string, counts ...sinks.Count) sinks.Batch {
	return sinks.Batch{ID: id, Store: store, Kind: sinks.KindCounter, Node: "n1", Time: pgWhen, Counts: counts}
}

func bufferBatch(id, store string, values ...sinks.Values) sinks.Batch {
	return sinks.Batch{ID: id, Store: store, Kind: sinks.KindBuffer, Node: "n1", Time: pgWhen, Values: values}
}

func vals(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func mustFlush(t testing.TB, p *sinks.Postgres, b sinks.Batch) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Flush(ctx, b); err != nil {
		t.Fatalf("flush %s: %v", b.ID, err)
	}
}

func equalCounts(t *testing.T, what string, got, want map[string]int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d keys %v, want %d %v", what, len(got), got, len(want), want)
		return
	}
	for k, n := range want {
		if g, ok := got[k]; !ok || g != n {
			t.Errorf("%s: %q = %d (present %v), want %d", what, k, g, ok, n)
		}
	}
}

// pgExecModes are the query modes a DSN may ask for: the default, and the
// ones PgBouncer setups use.
var pgExecModes = []string{"cache_statement", "exec", "simple_protocol"}
