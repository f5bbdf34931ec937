package sinks_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hoard-dev/hoard/sinks"
	"github.com/hoard-dev/hoard/testcluster"
)

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
