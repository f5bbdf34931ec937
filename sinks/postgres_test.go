package sinks_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/sinks"
)

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
