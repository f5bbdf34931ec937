package sinks_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hoard-dev/hoard/sinks"
)

// ranged returns b with an origin and ranges, its ID derived from them as
// hoard derives it.
func ranged(b sinks.Batch, origin string, rs ...sinks.Range) sinks.Batch {
	b.Origin, b.Ranges = origin, rs
	var id strings.Builder
	id.WriteString(origin)
	for _, r := range rs {
		fmt.Fprintf(&id, ".%d:%d-%d", r.Partition, r.First, r.Last)
	}
	b.ID = id.String()
	return b
}

// rng is a range of partition p.
func rng(p int, first, last uint64) sinks.Range {
	return sinks.Range{Partition: p, First: first, Last: last}
}

// positionRow is a row of the positions table.
type positionRow struct {
	Store, Origin string
	Partition     int32
	First, Last   int64
}

// positions returns the positions table's rows, sorted.
func (db *pgTestDB) positions(cfg sinks.PostgresConfig) []positionRow {
	db.t.Helper()
	rows, err := db.conn.Query(context.Background(), "SELECT store, origin, partition, first, last FROM "+
		cfg.PositionsTable+" ORDER BY store, origin, partition, first")
	if err != nil {
		db.t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[positionRow])
	if err != nil {
		db.t.Fatal(err)
	}
	return out
}

// valueCount returns how many values of key the values table holds.
func (db *pgTestDB) valueCount(cfg sinks.PostgresConfig, key string) int {
	db.t.Helper()
	var n int
	if err := db.conn.QueryRow(context.Background(), "SELECT count(*) FROM "+cfg.ValuesTable+" WHERE key = $1", key).Scan(&n); err != nil {
		db.t.Fatal(err)
	}
	return n
}

// TestPostgresRangesAppliedOnce delivers batches with ranges again after
// their commit went through (its answer lost, say): they are applied once,
// and recorded by position rather than by batch ID.
func TestPostgresRangesAppliedOnce(t *testing.T) {
	db := newPGTestDB(t)
	cfg := db.config()
	p := db.sink(cfg)

	counters := ranged(counterBatch("", "pageviews",
		sinks.Count{Key: "a", Count: 3, Partition: 1}, sinks.Count{Key: "b", Count: 4, Partition: 2}),
		"n1.1", rng(1, 1, 7), rng(2, 1, 4))
	buffers := ranged(bufferBatch("", "events",
		sinks.Values{Key: "u1", Values: vals("one", "two"), Partition: 5}),
		"n1.1", rng(5, 1, 2))
	for range 3 {
		mustFlush(t, p, counters)
		mustFlush(t, p, buffers)
	}
	// A dead-letter replay: a copy, at another time.
	replay := counters
	replay.Time = pgWhen.Add(time.Hour)
	replay.Counts = slices.Clone(counters.Counts)
	mustFlush(t, p, replay)

	equalCounts(t, "pageviews", db.counts(cfg, "pageviews"), map[string]int64{"a": 3, "b": 4})
	if n := db.valueCount(cfg, "u1"); n != 2 {
		t.Errorf("values table holds %d values of u1, want 2", n)
	}
	if got := db.batches(cfg); len(got) != 0 {
		t.Errorf("batches %q recorded; batches with ranges are recorded by position", got)
	}
	want := []positionRow{
		{"events", "n1.1", 5, 1, 2},
		{"pageviews", "n1.1", 1, 1, 7},
		{"pageviews", "n1.1", 2, 1, 4},
	}
	if got := db.positions(cfg); !slices.Equal(got, want) {
		t.Errorf("positions %v, want %v", got, want)
	}
}

// TestPostgresRangesAfterLaterOnes delivers a batch after a later batch of
// the same partition was applied, as a dead-letter replay does: both are
// applied once.
func TestPostgresRangesAfterLaterOnes(t *testing.T) {
	db := newPGTestDB(t)
	cfg := db.config()
	p := db.sink(cfg)
	ctx := context.Background()
	mustFlush(t, p, counterBatch("n0.x.1", "s", sinks.Count{Key: "locked", Count: 1})) // the row to lock

	b1 := ranged(counterBatch("", "s", sinks.Count{Key: "locked", Count: 10, Partition: 3}, sinks.Count{Key: "k", Count: 10, Partition: 3}),
		"n1.1", rng(3, 1, 10))
	b2 := ranged(counterBatch("", "s", sinks.Count{Key: "k", Count: 100, Partition: 3}), "n1.1", rng(3, 11, 20))

	// B1 fails mid-transaction (a row it needs is locked until its
	// deadline) and goes to the dead-letter.
	tx, err := db.conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SELECT * FROM "+cfg.CountersTable+" WHERE key = 'locked' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = p.Flush(fctx, b1)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sinks.ErrPermanent) {
		t.Fatalf("flush of B1 with its row locked: %v; want a retryable error wrapping context.DeadlineExceeded", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if got := db.positions(cfg); len(got) != 0 {
		t.Fatalf("positions %v after a failed flush", got)
	}

	// B2 goes through, then B1 is replayed; then both once more.
	mustFlush(t, p, b2)
	mustFlush(t, p, b1)
	mustFlush(t, p, b2)
	mustFlush(t, p, b1)

	equalCounts(t, "s", db.counts(cfg, "s"), map[string]int64{"locked": 11, "k": 110})
	if got, want := db.positions(cfg), []positionRow{{"s", "n1.1", 3, 1, 20}}; !slices.Equal(got, want) {
		t.Errorf("positions %v, want %v", got, want)
	}
}

// TestPostgresRangesPartlyApplied delivers batches of which one partition
// was applied before: only the other partition's data is applied.
func TestPostgresRangesPartlyApplied(t *testing.T) {
	db := newPGTestDB(t)
	cfg := db.config()
	p := db.sink(cfg)

	t.Run("counter", func(t *testing.T) {
		db := db.on(t)
		mustFlush(t, p, ranged(counterBatch("", "c", sinks.Count{Key: "a", Count: 1, Partition: 1}), "n1.1", rng(1, 1, 5)))
		both := ranged(counterBatch("", "c",
			sinks.Count{Key: "a", Count: 1, Partition: 1}, sinks.Count{Key: "b", Count: 2, Partition: 2},
			sinks.Count{Key: "a2", Count: 7, Partition: 1}, sinks.Count{Key: "b", Count: 3, Partition: 2}),
			"n1.1", rng(1, 1, 5), rng(2, 1, 3))
		mustFlush(t, p, both)
		mustFlush(t, p, both)
		equalCounts(t, "c", db.counts(cfg, "c"), map[string]int64{"a": 1, "b": 5})
	})
	t.Run("buffer", func(t *testing.T) {
		db := db.on(t)
		mustFlush(t, p, ranged(bufferBatch("", "b", sinks.Values{Key: "x", Values: vals("x1"), Partition: 7}), "n1.1", rng(7, 4, 4)))
		both := ranged(bufferBatch("", "b",
			sinks.Values{Key: "x", Values: vals("x1"), Partition: 7}, sinks.Values{Key: "y", Values: vals("y1", "y2"), Partition: 8}),
			"n1.1", rng(7, 4, 4), rng(8, 9, 10))
		mustFlush(t, p, both)
		mustFlush(t, p, both)
		if x, y := db.valueCount(cfg, "x"), db.valueCount(cfg, "y"); x != 1 || y != 2 {
			t.Errorf("%d values of x, %d of y; want 1 and 2", x, y)
		}
	})
}

// TestPostgresRangesRefused flushes batches whose ranges cannot be applied
// exactly once: each is refused with a permanent error, and nothing of it
// is applied or recorded.
func TestPostgresRangesRefused(t *testing.T) {
	db := newPGTestDB(t)
	applied := ranged(counterBatch("", "s", sinks.Count{Key: "k", Count: 1}), "n1.1", rng(0, 1, 10))
	c := func(key string, n int64, part int) sinks.Count {
		return sinks.Count{Key: key, Count: n, Partition: part}
	}
	tests := []struct {
		name  string
		batch sinks.Batch
		want  string // in the error
	}{
		{"overlapping the end of an applied range", ranged(counterBatch("", "s", c("k", 5, 0)), "n1.1", rng(0, 5, 15)), "range 5-15 of partition 0"},
		{"overlapping its start", ranged(counterBatch("", "s", c("k", 5, 0)), "n1.1", rng(0, 0, 1)), "range 0-1 of partition 0"},
		{"containing an applied range", ranged(counterBatch("", "s", c("k", 5, 0)), "n1.1", rng(0, 1, 11)), "range 1-11 of partition 0"},
		{"applied and new ranges of one partition", ranged(counterBatch("", "s", c("k", 5, 0)), "n1.1", rng(0, 1, 10), rng(0, 12, 13)), "cannot be told apart"},
		{"no origin", ranged(counterBatch("", "s", c("k", 5, 0)), "", rng(0, 20, 21)), "no origin"},
		{"backwards", ranged(counterBatch("", "s", c("k", 5, 0)), "n1.1", rng(0, 21, 20)), "backwards"},
		{"past int64", ranged(counterBatch("", "s", c("k", 5, 0)), "n1.1", rng(0, 20, 1<<63)), "2^63"},
		{"negative partition", ranged(counterBatch("", "s", c("k", 5, -1)), "n1.1", rng(-1, 1, 2)), "partition -1"},
		{"ranges overlapping each other", ranged(counterBatch("", "s", c("k", 5, 0)), "n1.1", rng(0, 20, 25), rng(0, 25, 30)), "overlap"},
		{"data outside the ranges", ranged(counterBatch("", "s", c("k", 5, 0), c("j", 1, 4)), "n1.1", rng(0, 20, 21)), `key "j" of partition 4`},
		{"values outside the ranges", ranged(bufferBatch("", "s", sinks.Values{Key: "v", Values: vals("v"), Partition: 9}), "n1.1", rng(0, 20, 21)), `key "v" of partition 9`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := db.on(t)
			cfg := db.config()
			p := db.sink(cfg)
			mustFlush(t, p, applied)
			before := db.positions(cfg)

			err := p.Flush(context.Background(), tt.batch)
			if !errors.Is(err, sinks.ErrPermanent) {
				t.Fatalf("error %v, want one wrapping ErrPermanent", err)
			}
			t.Log(err)
			for _, w := range []string{tt.want, tt.batch.ID, "sinks: "} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			var pe *pgconn.PgError
			if errors.As(err, &pe) {
				t.Errorf("error %v comes from the server", err)
			}
			equalCounts(t, "after", db.counts(cfg, "s"), map[string]int64{"k": 1})
			if got := db.positions(cfg); !slices.Equal(got, before) {
				t.Errorf("positions %v, want %v", got, before)
			}
			if n := db.valueCount(cfg, "v"); n != 0 {
				t.Errorf("%d values applied", n)
			}
		})
	}
}

// TestPostgresApplied reads back the ranges applied, delivered out of
// order and in pieces: they come back merged where they touch.
func TestPostgresApplied(t *testing.T) {
	db := newPGTestDB(t)
	cfg := db.config()
	p := db.sink(cfg)
	ctx := context.Background()

	one := func(rs ...sinks.Range) sinks.Batch {
		b := counterBatch("", "s")
		for _, r := range rs {
			b.Counts = append(b.Counts, sinks.Count{Key: fmt.Sprintf("k%d", r.Partition), Count: 1, Partition: r.Partition})
		}
		return ranged(b, "n1.1", rs...)
	}
	for _, b := range []sinks.Batch{
		one(rng(0, 11, 15)),
		one(rng(0, 1, 5), rng(1, 3, 4)),
		one(rng(0, 6, 10)),                                  // joins its neighbours
		one(rng(0, 20, 22)),                                 // leaves a gap
		one(rng(0, 16, 18)),                                 // touches 11-15 only
		one(rng(2, 1, 2), rng(2, 3, 4)),                     // touching ranges of one batch
		ranged(counterBatch("", "s"), "n1.1", rng(3, 1, 1)), // no data: the range is still recorded
		ranged(counterBatch("", "other", sinks.Count{Key: "k", Count: 1}), "n1.1", rng(0, 30, 40)),
		ranged(counterBatch("", "s", sinks.Count{Key: "k", Count: 1}), "n1.2", rng(0, 50, 60)),
	} {
		mustFlush(t, p, b)
	}

	got, err := p.Applied(ctx, "s", "n1.1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[int][]sinks.Range{
		0: {rng(0, 1, 18), rng(0, 20, 22)},
		1: {rng(1, 3, 4)},
		2: {rng(2, 1, 4)},
		3: {rng(3, 1, 1)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Applied(s, n1.1) = %v, want %v", got, want)
	}
	// The table holds the merged rows only.
	if rows := db.positions(cfg); len(rows) != 7 {
		t.Errorf("%d rows in the positions table, want 7: %v", len(rows), rows)
	}
	if got, err := p.Applied(ctx, "s", "n9.1"); err != nil || len(got) != 0 {
		t.Errorf("Applied of an unknown origin: %v, %v; want nothing", got, err)
	}

	p.Close()
	if _, err := p.Applied(ctx, "s", "n1.1"); err == nil {
		t.Error("Applied after Close: no error")
	}
}

// TestPostgresRangesDeliveredAtOnce delivers the same ranges through
// several sinks at the same time, as a zombie owner and a backup may: the
// data is applied once.
func TestPostgresRangesDeliveredAtOnce(t *testing.T) {
	db := newPGTestDB(t)
	cfg := db.config()
	const senders, rounds = 4, 10
	ps := make([]*sinks.Postgres, senders)
	for i := range ps {
		ps[i] = db.sink(cfg)
	}
	for round := range uint64(rounds) {
		b := ranged(counterBatch("", "s", sinks.Count{Key: "k", Count: 1, Partition: 2}, sinks.Count{Key: "j", Count: 1, Partition: 3}),
			"n1.1", rng(2, round*10+1, round*10+10), rng(3, round+1, round+1))
		var wg sync.WaitGroup
		for _, p := range ps {
			wg.Go(func() {
				if err := p.Flush(context.Background(), b); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	equalCounts(t, "s", db.counts(cfg, "s"), map[string]int64{"k": rounds, "j": rounds})
	want := []positionRow{{"s", "n1.1", 2, 1, rounds * 10}, {"s", "n1.1", 3, 1, rounds}}
	if got := db.positions(cfg); !slices.Equal(got, want) {
		t.Errorf("positions %v, want %v", got, want)
	}
}

// TestPostgresStatements runs the user's own statements instead of the
// counters and values tables, with positions (applied once when
// delivered again) and without (deduplicated by batch ID), in every query
// mode.
func TestPostgresStatements(t *testing.T) {
	db := newPGTestDB(t)
	for _, mode := range pgExecModes {
		t.Run(mode, func(t *testing.T) {
			db := db.on(t)
			cfg := db.config()
			cfg.DSN = pgWithParam(db.dsn, "default_query_exec_mode="+mode)
			pages, events := cfg.CountersTable+"_pages", cfg.ValuesTable+"_events"
			db.exec("CREATE TABLE " + pages + " (path text PRIMARY KEY, views bigint NOT NULL CHECK (views >= 0))")
			db.exec("CREATE TABLE " + events + " (id bigserial PRIMARY KEY, user_id text NOT NULL, payload bytea NOT NULL)")
			t.Cleanup(func() { _, _ = db.conn.Exec(context.Background(), "DROP TABLE IF EXISTS "+pages+", "+events) })
			cfg.CountersStatement = "INSERT INTO " + pages + " (path, views) SELECT * FROM unnest($1::text[], $2::bigint[]) " +
				"ON CONFLICT (path) DO UPDATE SET views = " + pages + ".views + excluded.views"
			cfg.ValuesStatement = "INSERT INTO " + events + " (user_id, payload) SELECT * FROM unnest($1::text[], $2::bytea[])"
			p := db.sink(cfg)

			counters := ranged(counterBatch("", "pageviews",
				sinks.Count{Key: "/home", Count: 2, Partition: 1}, sinks.Count{Key: "/about", Count: 1, Partition: 2},
				sinks.Count{Key: "/home", Count: 3, Partition: 1}), "n1.1", rng(1, 1, 2), rng(2, 1, 1))
			more := ranged(counterBatch("", "pageviews", sinks.Count{Key: "/home", Count: 10, Partition: 1}), "n1.1", rng(1, 3, 3))
			plain := counterBatch("n2.x.1", "pageviews", sinks.Count{Key: "/about", Count: 100})
			buffers := ranged(bufferBatch("", "events",
				sinks.Values{Key: "u1", Values: vals("a", "b"), Partition: 4},
				sinks.Values{Key: "u2", Values: [][]byte{{0x00, 0xff, '\\', 'x'}, nil}, Partition: 5},
				sinks.Values{Key: "u1", Values: vals("c"), Partition: 4}), "n1.1", rng(4, 1, 3), rng(5, 1, 2))
			for range 2 {
				mustFlush(t, p, counters)
				mustFlush(t, p, more)
				mustFlush(t, p, plain)
				mustFlush(t, p, buffers)
			}

			ctx := context.Background()
			rows, err := db.conn.Query(ctx, "SELECT path, views FROM "+pages)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int64{}
			var k string
			var n int64
			if _, err := pgx.ForEachRow(rows, []any{&k, &n}, func() error { got[k] = n; return nil }); err != nil {
				t.Fatal(err)
			}
			equalCounts(t, "pages", got, map[string]int64{"/home": 15, "/about": 101})

			type event struct {
				User    string
				Payload []byte
			}
			rows, err = db.conn.Query(ctx, "SELECT user_id, payload FROM "+events+" ORDER BY id")
			if err != nil {
				t.Fatal(err)
			}
			evs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[event])
			if err != nil {
				t.Fatal(err)
			}
			wantEvs := []event{{"u1", []byte("a")}, {"u1", []byte("b")}, {"u2", []byte{0x00, 0xff, '\\', 'x'}}, {"u2", []byte{}}, {"u1", []byte("c")}}
			if !reflect.DeepEqual(evs, wantEvs) {
				t.Errorf("events %q, want %q", evs, wantEvs)
			}

			// The tables the statements replace are not created.
			var countersTable, valuesTable *string
			err = db.conn.QueryRow(ctx, "SELECT to_regclass($1)::text, to_regclass($2)::text", cfg.CountersTable, cfg.ValuesTable).
				Scan(&countersTable, &valuesTable)
			if err != nil {
				t.Fatal(err)
			}
			if countersTable != nil || valuesTable != nil {
				t.Errorf("tables %v and %v created", countersTable, valuesTable)
			}

			// A statement error in the data class is permanent, and
			// nothing of the batch stays.
			neg := ranged(counterBatch("", "pageviews", sinks.Count{Key: "/home", Count: -100, Partition: 1}), "n1.1", rng(1, 4, 4))
			err = p.Flush(ctx, neg)
			var pe *pgconn.PgError
			if !errors.Is(err, sinks.ErrPermanent) || !errors.As(err, &pe) || pe.Code != "23514" || !strings.Contains(err.Error(), "counters statement") {
				t.Fatalf("error %v, want SQLSTATE 23514 from the counters statement wrapping ErrPermanent", err)
			}
			if got, err := p.Applied(ctx, "pageviews", "n1.1"); err != nil || !reflect.DeepEqual(got[1], []sinks.Range{rng(1, 1, 3)}) {
				t.Errorf("Applied after a refused batch: %v, %v; want partition 1 at 1-3", got, err)
			}
		})
	}
}

// TestPostgresStatementsThatCannotRunStopTheStart: a user statement the
// server cannot parse, or that takes another number of parameters than
// the two it is given, is refused when the sink starts, not batch after
// batch.
func TestPostgresStatementsThatCannotRunStopTheStart(t *testing.T) {
	db := newPGTestDB(t).on(t)
	for _, tc := range []struct {
		name string
		set  func(*sinks.PostgresConfig)
		want string
	}{
		{"missing table", func(c *sinks.PostgresConfig) {
			c.CountersStatement = "INSERT INTO no_such_table_x (k, v) SELECT * FROM unnest($1::text[], $2::bigint[])"
		}, "CountersStatement does not run"},
		{"one parameter", func(c *sinks.PostgresConfig) {
			c.ValuesStatement = "SELECT unnest($1::text[])"
		}, "ValuesStatement takes 1 parameters"},
		{"syntax", func(c *sinks.PostgresConfig) { c.CountersStatement = "INSERTT $1 $2" }, "CountersStatement does not run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := db.config()
			tc.set(&cfg)
			p, err := sinks.NewPostgres(context.Background(), cfg)
			if err == nil {
				p.Close()
				t.Fatal("the sink started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to say %q", err, tc.want)
			}
		})
	}
}
