package sinks

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/hoard-dev/hoard/internal/endpoint"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults of PostgresConfig.
const (
	DefaultCountersTable    = "hoard_counters"
	DefaultValuesTable      = "hoard_values"
	DefaultBatchesTable     = "hoard_batches"
	DefaultPositionsTable   = "hoard_positions"
	DefaultPostgresTimeout  = 10 * time.Second
	DefaultPostgresMaxConns = 4
)

// pgCancelGrace is how long a statement may outlive its context while the
// server is asked to cancel it, before the connection is cut; it also bounds
// the rollback after a failed flush.
const pgCancelGrace = time.Second

// pgCreateLock is the advisory lock NewPostgres holds while it creates the
// tables, so that nodes starting together do not race in CREATE TABLE IF
// NOT EXISTS (which can fail with a unique violation on pg_type when two
// sessions create the same table at once).
const pgCreateLock int64 = 0x686f617264 // "hoard"

// PostgresConfig configures a PostgreSQL sink.
type PostgresConfig struct {
	// DSN is a libpq connection string, URL or key=value
	// ("postgres://hoard@db:5432/app?sslmode=verify-full"): TLS,
	// connect_timeout, pool_max_conns and the query mode
	// (default_query_exec_mode) come from it. Required. Errors never quote
	// its password.
	DSN string

	// CountersTable receives counter batches: (store text, key text, count
	// bigint, primary key (store, key)); each flushed delta is added to the
	// key's row. Default DefaultCountersTable.
	CountersTable string
	// ValuesTable receives buffer batches, one row per value: (store text,
	// key text, value bytea, position int, batch text, time timestamptz),
	// position being the value's index among its key's values in the batch
	// and time the batch's Time. Default DefaultValuesTable.
	ValuesTable string
	// BatchesTable records the ID of every batch without ranges applied,
	// in the same transaction, so that such a batch is applied at most
	// once however often it is retried or replayed: (batch text primary
	// key, store text, applied_at timestamptz default now()). Rows are
	// never deleted by hoard; prune old ones at will (a batch older than
	// its store's retries and dead-letter replays cannot come back).
	// Default DefaultBatchesTable.
	BatchesTable string
	// PositionsTable records which ops of each origin were applied, for
	// batches that carry ranges (Batch.Ranges), in the same transaction as
	// their data: (store text, origin text, partition int, first bigint,
	// last bigint, primary key (store, origin, partition, first)), one row
	// per run of applied sequence numbers, merged where they touch. A range
	// found there is not applied again, whoever delivers it, and Applied
	// reads it. Such batches are not recorded in BatchesTable. Rows are
	// never deleted by hoard; an origin's rows may go once no log or
	// dead-letter holds its ops. Default DefaultPositionsTable.
	PositionsTable string
	// The table names are SQL identifiers (letters, digits, _ and $, not
	// starting with a digit, at most 63 bytes), optionally schema-qualified
	// ("metrics.counters"). Like unquoted names in SQL they are folded to
	// lower case.

	// CountersStatement, when set, is run instead of the upsert into
	// CountersTable (which is then neither used nor created): once per
	// counter batch, in its transaction, with $1 the keys (text[], sorted,
	// each once) and $2 their deltas (bigint[]):
	//
	//	INSERT INTO pages (path, views) SELECT * FROM unnest($1::text[], $2::bigint[])
	//	ON CONFLICT (path) DO UPDATE SET views = pages.views + excluded.views
	//
	// The batch is still recorded in the same transaction (its ranges or
	// its ID), so no data goes through the statement twice: the keys of a
	// partition applied before are left out, and a batch with nothing left
	// to apply does not run it. The statement does not see the store's
	// name: give each store its own sink when their keys must not mix. An
	// error of SQLSTATE class 22, 23 or 42 from it is permanent, as for
	// the tables. A blank statement is refused.
	CountersStatement string
	// ValuesStatement, when set, is run instead of the COPY into
	// ValuesTable (which is then neither used nor created): once per
	// buffer batch, in its transaction, with $1 the keys (text[]) and $2
	// the values (bytea[]), one element per value: a key is repeated for
	// each of its values, in the batch's order (a nil value is empty):
	//
	//	INSERT INTO events (user_id, payload) SELECT * FROM unnest($1::text[], $2::bytea[])
	//
	// Otherwise as CountersStatement.
	ValuesStatement string

	// CreateTables makes NewPostgres create the tables, as
	// PostgresDDL prints them, when they do not exist. It never alters an
	// existing table.
	CreateTables bool
	// Timeout bounds connecting when the DSN sets no connect_timeout, and
	// NewPostgres's check of the server and creation of the tables. 0 means
	// DefaultPostgresTimeout. Flush is bounded by its context only.
	Timeout time.Duration
	// MaxConns is the size of the connection pool: how many stores can
	// flush to this sink at once. 0 means the DSN's pool_max_conns, or
	// DefaultPostgresMaxConns when it sets none.
	MaxConns int32
}

// Validate reports whether c is usable: a DSN that parses, valid table
// names, statements that are not blank, and no negative Timeout or
// MaxConns. It does not connect.
func (c *PostgresConfig) Validate() error {
	_, _, err := c.poolConfig()
	return err
}

// pgTables are a sink's tables.
type pgTables struct {
	counters, values, batches, positions pgx.Identifier
}

// tableName matches a table name: an identifier, optionally qualified.
var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$`)

// parseTable validates a table name and splits it into its parts, folded to
// lower case.
func parseTable(field, name string) (pgx.Identifier, error) {
	if !tableName.MatchString(name) {
		return nil, fmt.Errorf("%s %q is not a table name (an SQL identifier, optionally schema-qualified)", field, name)
	}
	id := pgx.Identifier(strings.Split(strings.ToLower(name), "."))
	for _, part := range id {
		if len(part) > 63 {
			return nil, fmt.Errorf("%s %q: %q is longer than 63 bytes", field, name, part)
		}
	}
	return id, nil
}

// tableNames returns c's table names with the defaults applied.
func (c *PostgresConfig) tableNames() (counters, values, batches, positions string) {
	or := func(name, def string) string {
		if name == "" {
			return def
		}
		return name
	}
	return or(c.CountersTable, DefaultCountersTable), or(c.ValuesTable, DefaultValuesTable),
		or(c.BatchesTable, DefaultBatchesTable), or(c.PositionsTable, DefaultPositionsTable)
}

// tables validates c's table names.
func (c *PostgresConfig) tables() (pgTables, error) {
	var t pgTables
	counters, values, batches, positions := c.tableNames()
	var err error
	if t.counters, err = parseTable("CountersTable", counters); err != nil {
		return t, err
	}
	if t.values, err = parseTable("ValuesTable", values); err != nil {
		return t, err
	}
	if t.batches, err = parseTable("BatchesTable", batches); err != nil {
		return t, err
	}
	if t.positions, err = parseTable("PositionsTable", positions); err != nil {
		return t, err
	}
	seen := map[string]bool{}
	for _, id := range []pgx.Identifier{t.counters, t.values, t.batches, t.positions} {
		s := id.Sanitize()
		if seen[s] {
			return t, fmt.Errorf("table %s is named twice", s)
		}
		seen[s] = true
	}
	return t, nil
}

// poolConfig validates c and returns the pool's configuration and the
// tables.
func (c *PostgresConfig) poolConfig() (*pgxpool.Config, pgTables, error) {
	if c.DSN == "" {
		return nil, pgTables{}, errors.New("sinks: postgres: DSN is required")
	}
	pc, err := pgxpool.ParseConfig(c.DSN)
	if err != nil {
		// pgx redacts the password in a ParseConfigError.
		return nil, pgTables{}, fmt.Errorf("sinks: postgres: invalid DSN: %w", err)
	}
	name := endpoint.Postgres(pc.ConnConfig.Config)
	switch {
	case c.Timeout < 0:
		return nil, pgTables{}, fmt.Errorf("sinks: postgres %s: negative Timeout %v", name, c.Timeout)
	case c.MaxConns < 0:
		return nil, pgTables{}, fmt.Errorf("sinks: postgres %s: negative MaxConns %d", name, c.MaxConns)
	case blank(c.CountersStatement):
		return nil, pgTables{}, fmt.Errorf("sinks: postgres %s: CountersStatement is blank", name)
	case blank(c.ValuesStatement):
		return nil, pgTables{}, fmt.Errorf("sinks: postgres %s: ValuesStatement is blank", name)
	}
	t, err := c.tables()
	if err != nil {
		return nil, pgTables{}, fmt.Errorf("sinks: postgres %s: %w", name, err)
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultPostgresTimeout
	}
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = timeout
	}
	switch {
	case c.MaxConns > 0:
		pc.MaxConns = c.MaxConns
	case !dsnSetsPoolSize(c.DSN):
		pc.MaxConns = DefaultPostgresMaxConns
	}
	// Ask the server to stop a statement whose context ends, instead of
	// only dropping the connection and leaving the statement running there
	// (holding its locks).
	pc.ConnConfig.BuildContextWatcherHandler = func(conn *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: conn, DeadlineDelay: pgCancelGrace}
	}
	return pc, t, nil
}

// blank reports whether a statement is set but holds only white space.
func blank(stmt string) bool { return stmt != "" && strings.TrimSpace(stmt) == "" }

// dsnSetsPoolSize reports whether dsn has a pool_max_conns parameter
// (which pgxpool.ParseConfig consumes without saying so).
func dsnSetsPoolSize(dsn string) bool {
	cc, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return false
	}
	_, ok := cc.RuntimeParams["pool_max_conns"]
	return ok
}

// PostgresDDL returns the statements that create cfg's tables (if they do
// not exist), separated by semicolons, for a database administrator to run
// or adapt: extra columns with defaults and extra indexes (say on the
// values table's (store, key)) are fine. The counters and values tables
// are left out when a statement replaces them. NewPostgres runs the same
// statements when cfg.CreateTables is set. PostgresDDL does not validate
// the names (NewPostgres does); they are quoted whatever they hold.
func PostgresDDL(cfg PostgresConfig) string {
	counters, values, batches, positions := cfg.tableNames()
	quote := func(name string) string {
		if name == "" {
			return ""
		}
		return pgx.Identifier(strings.Split(strings.ToLower(name), ".")).Sanitize()
	}
	if cfg.CountersStatement != "" {
		counters = ""
	}
	if cfg.ValuesStatement != "" {
		values = ""
	}
	return ddl(quote(counters), quote(values), quote(batches), quote(positions))
}

// ddl returns the DDL of the tables, leaving out counters or values when
// "".
func ddl(counters, values, batches, positions string) string {
	var s strings.Builder
	if counters != "" {
		s.WriteString(`CREATE TABLE IF NOT EXISTS ` + counters + ` (
	store text NOT NULL,
	key   text NOT NULL,
	count bigint NOT NULL,
	PRIMARY KEY (store, key)
);
`)
	}
	if values != "" {
		s.WriteString(`CREATE TABLE IF NOT EXISTS ` + values + ` (
	store    text NOT NULL,
	key      text NOT NULL,
	value    bytea NOT NULL,
	position int NOT NULL,
	batch    text NOT NULL,
	time     timestamptz NOT NULL
);
`)
	}
	s.WriteString(`CREATE TABLE IF NOT EXISTS ` + batches + ` (
	batch      text PRIMARY KEY,
	store      text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS ` + positions + ` (
	store     text NOT NULL,
	origin    text NOT NULL,
	partition int NOT NULL,
	first     bigint NOT NULL,
	last      bigint NOT NULL,
	PRIMARY KEY (store, origin, partition, first)
);
`)
	return s.String()
}
