package sinks_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hoard-dev/hoard/sinks"
	"github.com/hoard-dev/hoard/testcluster"
)

// pgWhen is a batch time PostgreSQL stores exactly (microseconds).
var pgWhen = time.Date(2026, 11, 21, 12, 0, 0, 123000, time.UTC)

// pgTestDSN returns the DSN of the PostgreSQL the tests may use. Without
// one the test is skipped, or fails on CI, where .ci/run starts a server.
func pgTestDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("HOARD_TEST_POSTGRES_DSN")
	if dsn == "" {
		testcluster.SkipOrFailInCI(t, "HOARD_TEST_POSTGRES_DSN not set; to run the PostgreSQL tests: "+
			"bash -c 'source scripts/ci-postgres.sh && go test ./sinks/' "+
			"(or set it to a scratch database's DSN; in CI, .ci/run starts PostgreSQL)")
	}
	return dsn
}

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
	dsn := pgTestDSN(t)
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

func TestPostgresCounters(t *testing.T) {
	db := newPGTestDB(t)
	odd := []string{`a,b`, `"q"`, `\`, `{}`, `NULL`, `日本`, ` spaced `, `'; DROP TABLE x; --`, `{"a":[1]}`}
	for _, mode := range pgExecModes {
		t.Run(mode, func(t *testing.T) {
			db := db.on(t)
			cfg := db.config()
			cfg.DSN = pgWithParam(db.dsn, "default_query_exec_mode="+mode)
			p := db.sink(cfg)

			b1 := counterBatch("n1.x.1", "pageviews", sinks.Count{Key: "/home", Count: 1}, sinks.Count{Key: "/neg", Count: -2})
			for i, k := range odd {
				b1.Counts = append(b1.Counts, sinks.Count{Key: k, Count: int64(i + 1)})
			}
			mustFlush(t, p, b1)
			// A key twice in one batch is summed.
			mustFlush(t, p, counterBatch("n1.x.2", "pageviews",
				sinks.Count{Key: "/home", Count: 10}, sinks.Count{Key: "/new", Count: 5}, sinks.Count{Key: "/home", Count: 100}))
			// The same key in another store is another counter.
			mustFlush(t, p, counterBatch("n2.y.1", "clicks", sinks.Count{Key: "/home", Count: 7}))
			// Batch IDs from other nodes, and a zero delta.
			mustFlush(t, p, counterBatch("n2.y.2", "pageviews", sinks.Count{Key: "/neg", Count: -1}, sinks.Count{Key: "/zero", Count: 0}))

			want := map[string]int64{"/home": 111, "/neg": -3, "/new": 5, "/zero": 0}
			for i, k := range odd {
				want[k] = int64(i + 1)
			}
			equalCounts(t, "pageviews", db.counts(cfg, "pageviews"), want)
			equalCounts(t, "clicks", db.counts(cfg, "clicks"), map[string]int64{"/home": 7})
			if got, want := db.batches(cfg), []string{"n1.x.1", "n1.x.2", "n2.y.1", "n2.y.2"}; !slices.Equal(got, want) {
				t.Errorf("batches %q, want %q", got, want)
			}
		})
	}
}

func TestPostgresBatchAppliedOnce(t *testing.T) {
	db := newPGTestDB(t)
	cfg := db.config()
	p := db.sink(cfg)

	counters := counterBatch("n1.x.1", "pageviews", sinks.Count{Key: "a", Count: 3}, sinks.Count{Key: "b", Count: 4})
	buffers := bufferBatch("n1.x.2", "events", sinks.Values{Key: "u1", Values: vals("one", "two")})
	for range 3 {
		mustFlush(t, p, counters)
		mustFlush(t, p, buffers)
	}
	// A replay from the dead-letter, at another time, from a copy.
	replay := counters
	replay.Time = pgWhen.Add(time.Hour)
	replay.Counts = slices.Clone(counters.Counts)
	mustFlush(t, p, replay)

	equalCounts(t, "pageviews", db.counts(cfg, "pageviews"), map[string]int64{"a": 3, "b": 4})
	if got := db.values(cfg); len(got) != 2 {
		t.Errorf("values table holds %d rows, want 2: %v", len(got), got)
	}
	if got, want := db.batches(cfg), []string{"n1.x.1", "n1.x.2"}; !slices.Equal(got, want) {
		t.Errorf("batches %q, want %q", got, want)
	}
}

// TestPostgresRetryAfterTimeout retries batches whose earlier attempt the
// caller gave up on: one that committed after all is not applied again,
// one that did not is.
func TestPostgresRetryAfterTimeout(t *testing.T) {
	db := newPGTestDB(t)
	cfg := db.config()
	p := db.sink(cfg)
	ctx := context.Background()

	t.Run("committed", func(t *testing.T) {
		db := db.on(t)
		// The first attempt commits; its caller sees a timeout and retries.
		b := counterBatch("n1.x.1", "s", sinks.Count{Key: "k", Count: 5})
		mustFlush(t, p, b)
		retry := b
		retry.Counts = []sinks.Count{{Key: "k", Count: 5}}
		mustFlush(t, p, retry)
		equalCounts(t, "s", db.counts(cfg, "s"), map[string]int64{"k": 5})
	})

	// An earlier attempt still in flight: another session holds the batch's
	// row, uncommitted. The retry waits for it until its deadline, and
	// afterwards does what that attempt's outcome calls for.
	for _, outcome := range []string{"COMMIT", "ROLLBACK"} {
		t.Run("in flight then "+outcome, func(t *testing.T) {
			db := db.on(t)
			id := "n1.y." + outcome
			b := bufferBatch(id, "s", sinks.Values{Key: outcome, Values: vals("v")})
			tx, err := db.conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tx.Rollback(ctx) }()
			if _, err := tx.Exec(ctx, "INSERT INTO "+cfg.BatchesTable+" (batch, store) VALUES ($1, 's')", id); err != nil {
				t.Fatal(err)
			}

			fctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancel()
			err = p.Flush(fctx, b)
			if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sinks.ErrPermanent) {
				t.Fatalf("flush while in flight: %v; want a retryable error wrapping context.DeadlineExceeded", err)
			}
			if _, err := tx.Exec(ctx, outcome); err != nil {
				t.Fatal(err)
			}

			mustFlush(t, p, b)
			var n int
			if err := db.conn.QueryRow(ctx, "SELECT count(*) FROM "+cfg.ValuesTable+" WHERE key = $1", outcome).Scan(&n); err != nil {
				t.Fatal(err)
			}
			want := map[string]int{"COMMIT": 0, "ROLLBACK": 1}[outcome]
			if n != want {
				t.Fatalf("%d rows of the batch, want %d", n, want)
			}
		})
	}
}

func TestPostgresValues(t *testing.T) {
	db := newPGTestDB(t)
	cfg := db.config()
	p := db.sink(cfg)

	b1 := bufferBatch("n1.x.1", "events",
		sinks.Values{Key: "u1", Values: vals("a", "b", "c")},
		sinks.Values{Key: "u2", Values: [][]byte{[]byte("x"), {}, nil}},
		sinks.Values{Key: "u3"},
		// A key that comes twice goes on with its positions.
		sinks.Values{Key: "u1", Values: vals("d")},
	)
	b2 := bufferBatch("n1.x.2", "events", sinks.Values{Key: "u1", Values: vals("e")})
	b2.Time = pgWhen.Add(5 * time.Second)
	b3 := bufferBatch("n2.y.1", "other", sinks.Values{Key: "u1", Values: vals("z")})
	for range 2 {
		mustFlush(t, p, b1)
		mustFlush(t, p, b2)
		mustFlush(t, p, b3)
	}

	row := func(store, key, value string, pos int32, batch string, at time.Time) valueRow {
		return valueRow{Store: store, Key: key, Value: []byte(value), Position: pos, Batch: batch, Time: at}
	}
	want := []valueRow{
		row("events", "u1", "a", 0, "n1.x.1", pgWhen),
		row("events", "u1", "b", 1, "n1.x.1", pgWhen),
		row("events", "u1", "c", 2, "n1.x.1", pgWhen),
		row("events", "u1", "d", 3, "n1.x.1", pgWhen),
		row("events", "u2", "x", 0, "n1.x.1", pgWhen),
		row("events", "u2", "", 1, "n1.x.1", pgWhen),
		row("events", "u2", "", 2, "n1.x.1", pgWhen),
		row("events", "u1", "e", 0, "n1.x.2", pgWhen.Add(5*time.Second)),
		row("other", "u1", "z", 0, "n2.y.1", pgWhen),
	}
	got := db.values(cfg)
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d:\n%v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Store != w.Store || g.Key != w.Key || !bytes.Equal(g.Value, w.Value) || g.Value == nil ||
			g.Position != w.Position || g.Batch != w.Batch || !g.Time.Equal(w.Time) {
			t.Errorf("row %d: %+v, want %+v", i, g, w)
		}
	}
}

func TestPostgresBinaryValues(t *testing.T) {
	db := newPGTestDB(t)
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(rand.Uint32())
	}
	want := [][]byte{
		{0x00, 0xff, 0xfe, 0x80, 0x00, '\\', 'x'},
		{0xc3, 0x28},              // invalid UTF-8
		[]byte("\\x41\\\\ ,{}\""), // looks like escapes
		[]byte("日本"),
		big,
	}
	for _, mode := range pgExecModes {
		t.Run(mode, func(t *testing.T) {
			db := db.on(t)
			cfg := db.config()
			cfg.DSN = pgWithParam(db.dsn, "default_query_exec_mode="+mode)
			p := db.sink(cfg)
			mustFlush(t, p, bufferBatch("n1.x.1", "bin", sinks.Values{Key: "k", Values: want}))
			got := db.values(cfg)
			if len(got) != len(want) {
				t.Fatalf("%d rows, want %d", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i].Value, want[i]) {
					t.Errorf("value %d: %d bytes %q..., want %d bytes %q...",
						i, len(got[i].Value), got[i].Value[:min(16, len(got[i].Value))], len(want[i]), want[i][:min(16, len(want[i]))])
				}
			}
		})
	}
}

func TestPostgresPermanentErrors(t *testing.T) {
	const password = "s3cr3tpw"
	db := newPGTestDB(t)
	ctx := context.Background()
	// Trust authentication takes any password, which errors must not show.
	dsn := pgWithParam(db.dsn, "password="+password)

	good := counterBatch("n1.ok.1", "s", sinks.Count{Key: "k", Count: 1})
	tests := []struct {
		name  string
		setup func(db *pgTestDB, cfg *sinks.PostgresConfig) // makes the tables; nil: CreateTables
		batch sinks.Batch
		want  []string // in the error, besides the batch ID
		code  string   // SQLSTATE, if from the server
	}{
		{
			name:  "no tables",
			setup: func(*pgTestDB, *sinks.PostgresConfig) {},
			batch: counterBatch("n1.a.1", "s", sinks.Count{Key: "k", Count: 1}),
			want:  []string{"_batches", "does not exist"},
			code:  "42P01",
		},
		{
			name: "no counters table",
			setup: func(db *pgTestDB, cfg *sinks.PostgresConfig) {
				db.exec(sinks.PostgresDDL(*cfg) + "; DROP TABLE " + cfg.CountersTable)
			},
			batch: counterBatch("n1.b.1", "s", sinks.Count{Key: "k", Count: 1}),
			want:  []string{"_counters", "does not exist"},
			code:  "42P01",
		},
		{
			name: "no values table",
			setup: func(db *pgTestDB, cfg *sinks.PostgresConfig) {
				db.exec(sinks.PostgresDDL(*cfg) + "; DROP TABLE " + cfg.ValuesTable)
			},
			batch: bufferBatch("n1.c.1", "s", sinks.Values{Key: "k", Values: vals("v")}),
			want:  []string{"_values", "does not exist"},
			code:  "42P01",
		},
		{
			name: "missing column",
			setup: func(db *pgTestDB, cfg *sinks.PostgresConfig) {
				db.exec(sinks.PostgresDDL(*cfg) + "; ALTER TABLE " + cfg.ValuesTable + " DROP COLUMN time")
			},
			batch: bufferBatch("n1.d.1", "s", sinks.Values{Key: "k", Values: vals("v")}),
			want:  []string{"_values", "time"},
			code:  "42703",
		},
		{
			name: "no unique key for the upsert",
			setup: func(db *pgTestDB, cfg *sinks.PostgresConfig) {
				db.exec("CREATE TABLE " + cfg.CountersTable + " (store text, key text, count bigint)")
				db.exec(sinks.PostgresDDL(*cfg))
			},
			batch: counterBatch("n1.e.1", "s", sinks.Count{Key: "k", Count: 1}),
			want:  []string{"_counters", "ON CONFLICT"},
			code:  "42P10",
		},
		{
			name: "counter out of range",
			setup: func(db *pgTestDB, cfg *sinks.PostgresConfig) {
				db.exec(sinks.PostgresDDL(*cfg))
				db.exec("INSERT INTO "+cfg.CountersTable+" VALUES ('s', 'k', $1)", int64(math.MaxInt64-1))
			},
			batch: counterBatch("n1.f.1", "s", sinks.Count{Key: "k", Count: 10}),
			want:  []string{"_counters", "out of range"},
			code:  "22003",
		},
		{
			name:  "NUL in key",
			batch: counterBatch("n1.g.1", "s", sinks.Count{Key: "a\x00b", Count: 1}),
			want:  []string{"_counters"},
			code:  "22021",
		},
		{
			name:  "invalid UTF-8 key",
			batch: bufferBatch("n1.h.1", "s", sinks.Values{Key: "\xff", Values: vals("v")}),
			want:  []string{"_values"},
			code:  "22021",
		},
		{
			name:  "deltas overflow in the batch",
			batch: counterBatch("n1.i.1", "s", sinks.Count{Key: "k", Count: math.MaxInt64}, sinks.Count{Key: "k", Count: 1}),
			want:  []string{"overflow"},
		},
		{
			name:  "no batch ID",
			batch: counterBatch("", "s", sinks.Count{Key: "k", Count: 1}),
			want:  []string{"no ID"},
		},
		{
			name:  "unknown kind",
			batch: sinks.Batch{ID: "n1.j.1", Store: "s", Kind: "gauge", Counts: []sinks.Count{{Key: "k", Count: 1}}},
			want:  []string{"unknown kind"},
		},
		{
			name:  "counter batch with values",
			batch: sinks.Batch{ID: "n1.k.1", Store: "s", Kind: sinks.KindCounter, Values: []sinks.Values{{Key: "k", Values: vals("v")}}},
			want:  []string{"buffer values"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := db.on(t)
			cfg := db.config()
			cfg.DSN = dsn
			cfg.CreateTables = tt.setup == nil
			if tt.setup != nil {
				tt.setup(db, &cfg)
			}
			p := db.sink(cfg)
			err := p.Flush(ctx, tt.batch)
			if !errors.Is(err, sinks.ErrPermanent) {
				t.Fatalf("error %v, want one wrapping ErrPermanent", err)
			}
			t.Log(err)
			msg := err.Error()
			for _, w := range append(tt.want, "sinks: ", tt.batch.ID) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if strings.Contains(msg, password) {
				t.Errorf("error %q contains the password", msg)
			}
			var pe *pgconn.PgError
			switch {
			case tt.code != "" && (!errors.As(err, &pe) || pe.Code != tt.code):
				t.Errorf("error %v: want SQLSTATE %s", err, tt.code)
			case tt.code == "" && errors.As(err, &pe):
				t.Errorf("error %v comes from the server", err)
			}
			// Nothing of the batch stays, and the sink goes on working.
			if tt.setup != nil {
				return
			}
			equalCounts(t, "after", db.counts(cfg, "s"), map[string]int64{})
			if got := db.batches(cfg); len(got) != 0 {
				t.Errorf("batches %q recorded", got)
			}
			mustFlush(t, p, good)
			equalCounts(t, "good batch", db.counts(cfg, "s"), map[string]int64{"k": 1})
		})
	}

	t.Run("insufficient privilege", func(t *testing.T) {
		db := db.on(t)
		cfg := db.config()
		db.exec(sinks.PostgresDDL(cfg))
		role := fmt.Sprintf("hoard_sinks_role_%016x", rand.Uint64())
		db.exec("CREATE ROLE " + role + " LOGIN")
		t.Cleanup(func() { _, _ = db.conn.Exec(context.Background(), "DROP ROLE IF EXISTS "+role) })
		cfg.DSN = pgWithParam(dsn, "user="+role)
		cfg.CreateTables = false
		p := db.sink(cfg)
		err := p.Flush(ctx, good)
		var pe *pgconn.PgError
		if !errors.Is(err, sinks.ErrPermanent) || !errors.As(err, &pe) || pe.Code != "42501" {
			t.Fatalf("error %v, want SQLSTATE 42501 wrapping ErrPermanent", err)
		}
		if !strings.Contains(err.Error(), role+"@") || strings.Contains(err.Error(), password) {
			t.Fatalf("error %q: want the user and not the password", err)
		}
		p.Close() // before the role goes
	})
}

// TestPostgresContextDeadline blocks flushes on locks held by another
// session: they end at their deadline, with the statement cancelled on the
// server, and a retry afterwards applies the batch once.
func TestPostgresContextDeadline(t *testing.T) {
	db := newPGTestDB(t)
	cfg := db.config()
	p := db.sink(cfg)
	ctx := context.Background()
	mustFlush(t, p, counterBatch("n1.x.1", "s", sinks.Count{Key: "locked", Count: 1}))

	tests := []struct {
		name  string
		lock  string
		batch sinks.Batch
		table string // in the statement left running, if any
	}{
		{"upsert", "SELECT * FROM " + cfg.CountersTable + " WHERE key = 'locked' FOR UPDATE",
			counterBatch("n1.x.2", "s", sinks.Count{Key: "free", Count: 1}, sinks.Count{Key: "locked", Count: 1}), cfg.CountersTable},
		{"copy", "LOCK TABLE " + cfg.ValuesTable + " IN ACCESS EXCLUSIVE MODE",
			bufferBatch("n1.x.3", "s", sinks.Values{Key: "k", Values: vals("v1", "v2")}), cfg.ValuesTable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := db.on(t)
			tx, err := db.conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tx.Rollback(ctx) }()
			if _, err := tx.Exec(ctx, tt.lock); err != nil {
				t.Fatal(err)
			}

			const timeout = 500 * time.Millisecond
			fctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			start := time.Now()
			err = p.Flush(fctx, tt.batch)
			elapsed := time.Since(start)
			t.Log(err)
			if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sinks.ErrPermanent) {
				t.Fatalf("error %v, want a retryable one wrapping context.DeadlineExceeded", err)
			}
			if !strings.Contains(err.Error(), tt.batch.ID) {
				t.Errorf("error %q does not name the batch", err)
			}
			if elapsed < timeout || elapsed > timeout+2*time.Second {
				t.Errorf("returned after %v, want about %v", elapsed, timeout)
			}

			// The server was asked to cancel the statement: it is not left
			// waiting for the lock.
			testcluster.WaitFor(t, 5*time.Second, "the server to cancel the statement", func() error {
				var n int
				err := db.conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND "+
					"pid <> pg_backend_pid() AND query LIKE '%' || $1 || '%'", tt.table).Scan(&n)
				if err != nil {
					t.Fatal(err)
				}
				if n != 0 {
					return fmt.Errorf("%d statements on %s still running on the server", n, tt.table)
				}
				return nil
			})

			if err := tx.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
			mustFlush(t, p, tt.batch)
			mustFlush(t, p, tt.batch)
		})
	}
	equalCounts(t, "counts", db.counts(cfg, "s"), map[string]int64{"locked": 2, "free": 1})
	if got := db.values(cfg); len(got) != 2 {
		t.Errorf("%d values, want 2", len(got))
	}

	t.Run("done already", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err := p.Flush(cctx, counterBatch("n1.x.4", "s", sinks.Count{Key: "k", Count: 1}))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want one wrapping context.Canceled", err)
		}
	})
}

// TestPostgresConnectionLost kills the sink's connections on the server:
// a flush then fails with an error worth retrying, or succeeds on a fresh
// connection, and the batch is applied once.
func TestPostgresConnectionLost(t *testing.T) {
	db := newPGTestDB(t)
	cfg := db.config()
	app := fmt.Sprintf("hoard_sinks_%016x", rand.Uint64())
	cfg.DSN = pgWithParam(db.dsn, "application_name="+app)
	p := db.sink(cfg)
	ctx := context.Background()
	for i := range 3 {
		mustFlush(t, p, counterBatch(fmt.Sprintf("n1.x.%d", i), "s", sinks.Count{Key: "k", Count: 1}))
		var killed int
		err := db.conn.QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&killed)
		if err != nil || killed == 0 {
			t.Fatalf("terminated %d backends: %v", killed, err)
		}
		b := counterBatch(fmt.Sprintf("n1.y.%d", i), "s", sinks.Count{Key: "k", Count: 10})
		if err := p.Flush(ctx, b); err != nil {
			t.Log(err)
			if errors.Is(err, sinks.ErrPermanent) {
				t.Fatalf("error %v wraps ErrPermanent", err)
			}
		}
		mustFlush(t, p, b)
	}
	equalCounts(t, "counts", db.counts(cfg, "s"), map[string]int64{"k": 33})
}

func TestPostgresEmptyBatch(t *testing.T) {
	db := newPGTestDB(t)
	cfg := db.config()
	p := db.sink(cfg)
	for _, b := range []sinks.Batch{
		counterBatch("n1.x.1", "s"),
		bufferBatch("n1.x.2", "s"),
		{ID: "n1.x.3", Store: "s", Kind: sinks.KindCounter, Counts: []sinks.Count{}},
		bufferBatch("", "s"),
	} {
		mustFlush(t, p, b)
	}
	// A key without values writes no rows but records the batch.
	mustFlush(t, p, bufferBatch("n1.x.4", "s", sinks.Values{Key: "k"}))
	if got, want := db.batches(cfg), []string{"n1.x.4"}; !slices.Equal(got, want) {
		t.Errorf("batches %q, want %q", got, want)
	}
	if got := db.values(cfg); len(got) != 0 {
		t.Errorf("values %v", got)
	}
}

func TestPostgresDDL(t *testing.T) {
	ddl := sinks.PostgresDDL(sinks.PostgresConfig{})
	for _, want := range []string{`"hoard_counters"`, `"hoard_values"`, `"hoard_batches"`, `"hoard_positions"`,
		"PRIMARY KEY (store, key)", "bytea", "PRIMARY KEY (store, origin, partition, first)"} {
		if !strings.Contains(ddl, want) {
			t.Errorf("default DDL does not contain %s:\n%s", want, ddl)
		}
	}

	db := newPGTestDB(t)
	schema := fmt.Sprintf("hoard_sinks_schema_%016x", rand.Uint64())
	db.exec("CREATE SCHEMA " + schema)
	t.Cleanup(func() { _, _ = db.conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	cfg := sinks.PostgresConfig{
		DSN: db.dsn,
		// Names fold to lower case, like unquoted SQL names.
		CountersTable:  strings.ToUpper(schema) + ".Counters",
		ValuesTable:    schema + ".values",
		BatchesTable:   schema + ".batches",
		PositionsTable: schema + ".Positions",
	}
	db.exec(sinks.PostgresDDL(cfg))
	db.exec(sinks.PostgresDDL(cfg)) // IF NOT EXISTS
	p := db.sink(cfg)
	mustFlush(t, p, counterBatch("n1.x.1", "s", sinks.Count{Key: "k", Count: 2}))
	mustFlush(t, p, bufferBatch("n1.x.2", "s", sinks.Values{Key: "k", Values: vals("v")}))
	ranged := counterBatch("n1.x.3", "s", sinks.Count{Key: "k", Count: 3})
	ranged.Origin, ranged.Ranges = "n1.1", []sinks.Range{{First: 1, Last: 3}}
	mustFlush(t, p, ranged)
	var n, m, r int64
	err := db.conn.QueryRow(context.Background(),
		"SELECT (SELECT count FROM "+schema+".counters), (SELECT count(*) FROM "+schema+".values), "+
			"(SELECT count(*) FROM "+schema+".positions)").Scan(&n, &m, &r)
	if err != nil || n != 5 || m != 1 || r != 1 {
		t.Fatalf("count %d, %d values, %d positions, %v; want 5, 1, 1", n, m, r, err)
	}

	// A statement replaces its table, which is then not created.
	ddl = sinks.PostgresDDL(sinks.PostgresConfig{CountersStatement: "SELECT $1::text[], $2::bigint[]", ValuesStatement: "SELECT $1::text[], $2::bytea[]"})
	for _, table := range []string{"hoard_counters", "hoard_values"} {
		if strings.Contains(ddl, table) {
			t.Errorf("DDL with statements creates %s:\n%s", table, ddl)
		}
	}
}

func TestPostgresCreateTablesConcurrently(t *testing.T) {
	db := newPGTestDB(t)
	cfg := db.config()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			p, err := sinks.NewPostgres(context.Background(), cfg)
			if err != nil {
				t.Error(err)
				return
			}
			p.Close()
		})
	}
	wg.Wait()
}

func TestPostgresConcurrentFlushes(t *testing.T) {
	db := newPGTestDB(t)
	cfg := db.config()
	cfg.MaxConns = 4
	p := db.sink(cfg)
	const workers, batches, keys = 8, 20, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range batches {
				b := counterBatch(fmt.Sprintf("n%d.x.%d", w, i), "s")
				for _, k := range rand.Perm(keys) {
					b.Counts = append(b.Counts, sinks.Count{Key: fmt.Sprintf("k%02d", k), Count: 1})
				}
				if err := p.Flush(context.Background(), b); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	want := map[string]int64{}
	for k := range keys {
		want[fmt.Sprintf("k%02d", k)] = workers * batches
	}
	equalCounts(t, "counts", db.counts(cfg, "s"), want)
}

func TestPostgresClose(t *testing.T) {
	db := newPGTestDB(t)
	cfg := db.config()
	p := db.sink(cfg)
	mustFlush(t, p, counterBatch("n1.x.1", "s", sinks.Count{Key: "k", Count: 1}))
	p.Close()
	p.Close()
	err := p.Flush(context.Background(), counterBatch("n1.x.2", "s", sinks.Count{Key: "k", Count: 1}))
	if err == nil {
		t.Fatal("flush after Close: no error")
	}
}

func TestNewPostgresErrors(t *testing.T) {
	const password = "s3cr3tpw"
	ctx := context.Background()
	dsn := "postgres://u:" + password + "@127.0.0.1:1/db?sslmode=disable"
	tests := []struct {
		name string
		cfg  sinks.PostgresConfig
		want string
	}{
		{"no DSN", sinks.PostgresConfig{}, "DSN is required"},
		{"bad URL port", sinks.PostgresConfig{DSN: "postgres://u:" + password + "@127.0.0.1:port/db"}, "invalid DSN"},
		{"bad key=value", sinks.PostgresConfig{DSN: "host=127.0.0.1 password=" + password + " sslmode=sometimes"}, "invalid DSN"},
		{"negative timeout", sinks.PostgresConfig{DSN: dsn, Timeout: -1}, "Timeout"},
		{"negative pool", sinks.PostgresConfig{DSN: dsn, MaxConns: -1}, "MaxConns"},
		{"injection", sinks.PostgresConfig{DSN: dsn, CountersTable: "c; DROP TABLE x"}, "CountersTable"},
		{"quoted", sinks.PostgresConfig{DSN: dsn, ValuesTable: `"v"`}, "ValuesTable"},
		{"three parts", sinks.PostgresConfig{DSN: dsn, BatchesTable: "db.s.b"}, "BatchesTable"},
		{"leading digit", sinks.PostgresConfig{DSN: dsn, CountersTable: "1c"}, "CountersTable"},
		{"empty part", sinks.PostgresConfig{DSN: dsn, CountersTable: "s."}, "CountersTable"},
		{"too long", sinks.PostgresConfig{DSN: dsn, CountersTable: strings.Repeat("c", 64)}, "63 bytes"},
		{"same table twice", sinks.PostgresConfig{DSN: dsn, CountersTable: "t", ValuesTable: "T"}, "twice"},
		{"positions table twice", sinks.PostgresConfig{DSN: dsn, PositionsTable: "hoard_batches"}, "twice"},
		{"bad positions table", sinks.PostgresConfig{DSN: dsn, PositionsTable: "p-1"}, "PositionsTable"},
		{"blank counters statement", sinks.PostgresConfig{DSN: dsn, CountersStatement: " \n\t"}, "CountersStatement is blank"},
		{"blank values statement", sinks.PostgresConfig{DSN: dsn, ValuesStatement: " "}, "ValuesStatement is blank"},
		{"nobody listening", sinks.PostgresConfig{DSN: dsn, Timeout: 2 * time.Second}, "u@127.0.0.1:1/db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name != "nobody listening" {
				if err := tt.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("Validate: %v, want an error containing %q", err, tt.want)
				}
			}
			start := time.Now()
			p, err := sinks.NewPostgres(ctx, tt.cfg)
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

	valid := sinks.PostgresConfig{DSN: dsn, CountersTable: "metrics.counters", ValuesTable: "Events_2026", BatchesTable: "_b$1"}
	if err := valid.Validate(); err != nil {
		t.Errorf("Validate(%+v): %v", valid, err)
	}
}

func ExampleNewPostgres() {
	ctx := context.Background()
	p, err := sinks.NewPostgres(ctx, sinks.PostgresConfig{
		DSN:          "postgres://hoard@db:5432/app?sslmode=verify-full",
		CreateTables: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	err = p.Flush(ctx, sinks.Batch{
		ID: "n1.5f3a9c21.0000000001", Store: "pageviews", Kind: sinks.KindCounter, Node: "n1", Time: time.Now(),
		Counts: []sinks.Count{{Key: "/home", Count: 42}},
	})
	if errors.Is(err, sinks.ErrPermanent) {
		fmt.Println("will not work on retry either:", err)
	}
}

func ExamplePostgresDDL() {
	fmt.Print(sinks.PostgresDDL(sinks.PostgresConfig{CountersTable: "metrics.counters"}))
	// Output:
	// CREATE TABLE IF NOT EXISTS "metrics"."counters" (
	// 	store text NOT NULL,
	// 	key   text NOT NULL,
	// 	count bigint NOT NULL,
	// 	PRIMARY KEY (store, key)
	// );
	// CREATE TABLE IF NOT EXISTS "hoard_values" (
	// 	store    text NOT NULL,
	// 	key      text NOT NULL,
	// 	value    bytea NOT NULL,
	// 	position int NOT NULL,
	// 	batch    text NOT NULL,
	// 	time     timestamptz NOT NULL
	// );
	// CREATE TABLE IF NOT EXISTS "hoard_batches" (
	// 	batch      text PRIMARY KEY,
	// 	store      text NOT NULL,
	// 	applied_at timestamptz NOT NULL DEFAULT now()
	// );
	// CREATE TABLE IF NOT EXISTS "hoard_positions" (
	// 	store     text NOT NULL,
	// 	origin    text NOT NULL,
	// 	partition int NOT NULL,
	// 	first     bigint NOT NULL,
	// 	last      bigint NOT NULL,
	// 	PRIMARY KEY (store, origin, partition, first)
	// );
}
