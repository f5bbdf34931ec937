package sinks

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
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
	// BatchesTable records the ID of every batch applied, in the same
	// transaction, so that a batch is applied at most once however often
	// it is retried or replayed: (batch text primary key, store text,
	// applied_at timestamptz default now()). Rows are never deleted by
	// hoard; prune old ones at will (a batch older than its store's retries
	// and dead-letter replays cannot come back). Default
	// DefaultBatchesTable.
	BatchesTable string
	// The table names are SQL identifiers (letters, digits, _ and $, not
	// starting with a digit, at most 63 bytes), optionally schema-qualified
	// ("metrics.counters"). Like unquoted names in SQL they are folded to
	// lower case.

	// CreateTables makes NewPostgres create the three tables, as
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
// names, and no negative Timeout or MaxConns. It does not connect.
func (c *PostgresConfig) Validate() error {
	_, _, err := c.poolConfig()
	return err
}

// pgTables are a sink's tables.
type pgTables struct {
	counters, values, batches pgx.Identifier
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
func (c *PostgresConfig) tableNames() (counters, values, batches string) {
	counters, values, batches = c.CountersTable, c.ValuesTable, c.BatchesTable
	if counters == "" {
		counters = DefaultCountersTable
	}
	if values == "" {
		values = DefaultValuesTable
	}
	if batches == "" {
		batches = DefaultBatchesTable
	}
	return counters, values, batches
}

// tables validates c's table names.
func (c *PostgresConfig) tables() (pgTables, error) {
	var t pgTables
	counters, values, batches := c.tableNames()
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
	seen := map[string]bool{}
	for _, id := range []pgx.Identifier{t.counters, t.values, t.batches} {
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

// PostgresDDL returns the statements that create cfg's three tables (if
// they do not exist), separated by semicolons, for a database
// administrator to run or adapt: extra columns with defaults and extra
// indexes (say on the values table's (store, key)) are fine. NewPostgres
// runs the same statements when cfg.CreateTables is set. PostgresDDL does
// not validate the names (NewPostgres does); they are quoted whatever
// they hold.
func PostgresDDL(cfg PostgresConfig) string {
	counters, values, batches := cfg.tableNames()
	quote := func(name string) string {
		return pgx.Identifier(strings.Split(strings.ToLower(name), ".")).Sanitize()
	}
	return ddl(quote(counters), quote(values), quote(batches))
}

func ddl(counters, values, batches string) string {
	return `CREATE TABLE IF NOT EXISTS ` + counters + ` (
	store text NOT NULL,
	key   text NOT NULL,
	count bigint NOT NULL,
	PRIMARY KEY (store, key)
);
CREATE TABLE IF NOT EXISTS ` + values + ` (
	store    text NOT NULL,
	key      text NOT NULL,
	value    bytea NOT NULL,
	position int NOT NULL,
	batch    text NOT NULL,
	time     timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS ` + batches + ` (
	batch      text PRIMARY KEY,
	store      text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
);
`
}

// Postgres writes batches to PostgreSQL, one transaction per batch:
// counter deltas are added to the counters table in one upsert, buffer
// values are appended to the values table with COPY, and the batch's ID
// goes into the batches table, so that a batch that is retried or replayed
// after its transaction committed (say the commit's answer was lost to a
// timeout) is not applied twice. It is safe for concurrent use.
type Postgres struct {
	name string // endpoint.Postgres's, for errors
	pool *pgxpool.Pool

	counters, values, batches string         // sanitized table names
	valuesID                  pgx.Identifier // for CopyFrom
	recordSQL, upsertSQL      string
}

var _ Sink = (*Postgres)(nil)

// valueColumns are the values table's columns COPY fills, in row order.
var valueColumns = []string{"store", "key", "value", "position", "batch", "time"}

// NewPostgres validates cfg, creates the connection pool and checks that
// the database answers, within ctx and Timeout (or the DSN's
// connect_timeout), so that a wrong DSN or a database that is down fails
// at start rather than at the first flush. With CreateTables it then
// creates the missing tables. It does not check that existing tables fit:
// a flush to a table that is missing or lacks a column fails with an error
// wrapping ErrPermanent. Close releases the pool.
func NewPostgres(ctx context.Context, cfg PostgresConfig) (*Postgres, error) {
	pc, t, err := cfg.poolConfig()
	if err != nil {
		return nil, err
	}
	p := &Postgres{
		name:     endpoint.Postgres(pc.ConnConfig.Config),
		counters: t.counters.Sanitize(),
		values:   t.values.Sanitize(),
		batches:  t.batches.Sanitize(),
		valuesID: t.values,
	}
	p.recordSQL = `INSERT INTO ` + p.batches + ` (batch, store) VALUES ($1, $2) ON CONFLICT (batch) DO NOTHING`
	p.upsertSQL = `INSERT INTO ` + p.counters + ` (store, key, count)
SELECT $1, k, c FROM unnest($2::text[], $3::bigint[]) AS t(k, c)
ON CONFLICT (store, key) DO UPDATE SET count = ` + p.counters + `.count + excluded.count`

	p.pool, err = pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("sinks: postgres %s: %w", p.name, err)
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultPostgresTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, max(timeout, pc.ConnConfig.ConnectTimeout))
	defer cancel()
	if err := p.pool.Ping(ctx); err != nil {
		p.pool.Close()
		return nil, fmt.Errorf("sinks: postgres %s: %w", p.name, err)
	}
	if cfg.CreateTables {
		if err := p.createTables(ctx); err != nil {
			p.pool.Close()
			return nil, fmt.Errorf("sinks: postgres %s: creating tables: %w", p.name, err)
		}
	}
	return p, nil
}

// createTables runs the DDL under an advisory lock.
func (p *Postgres) createTables(ctx context.Context) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgCreateLock); err != nil {
			return err
		}
		// Without arguments pgx sends the statements in one simple query.
		_, err := tx.Exec(ctx, ddl(p.counters, p.values, p.batches))
		return err
	})
}

// Flush applies b in one transaction, unless a batch with its ID was
// applied before: then it returns nil and changes nothing. An empty batch
// is not recorded. A batch without an ID, of an unknown kind, or holding
// the data of the other kind is refused with an error wrapping
// ErrPermanent; so are counter deltas of one key that overflow an int64
// between them.
//
// On failure the transaction is rolled back and the error names the table
// and the batch. It wraps ErrPermanent when trying again cannot help: the
// table or a column is missing, privileges are lacking, a counter would
// overflow, a value breaks a constraint (SQLSTATE classes 22, 23 and 42).
// Other errors (connection, timeout, serialization failure, deadlock) are
// worth retrying. When ctx ends the server is asked to cancel the running
// statement and the error wraps ctx's. Flush does not keep b.
func (p *Postgres) Flush(ctx context.Context, b Batch) error {
	if err := ctx.Err(); err != nil {
		return p.errorf(&b, err)
	}
	if err := checkBatch(&b); err != nil {
		return fmt.Errorf("%w: postgres %s: %s batch %q of %q: %w", ErrPermanent, p.name, b.Kind, b.ID, b.Store, err)
	}
	if b.Len() == 0 {
		return nil
	}
	var keys []string
	var deltas []int64
	if b.Kind == KindCounter {
		var err error
		if keys, deltas, err = sumCounts(b.Counts); err != nil {
			return fmt.Errorf("%w: postgres %s: %s batch %q of %q: %w", ErrPermanent, p.name, b.Kind, b.ID, b.Store, err)
		}
	}
	err := p.flush(ctx, &b, keys, deltas)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		if !errors.Is(err, ctx.Err()) {
			// The server cancelled the statement at our request: say why.
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return p.errorf(&b, err)
	}
	if pgPermanent(err) {
		return fmt.Errorf("%w: postgres %s: %s batch %q of %q: %w", ErrPermanent, p.name, b.Kind, b.ID, b.Store, err)
	}
	return p.errorf(&b, err)
}

func (p *Postgres) errorf(b *Batch, err error) error {
	return fmt.Errorf("sinks: postgres %s: %s batch %q of %q: %w", p.name, b.Kind, b.ID, b.Store, err)
}

// checkBatch reports what makes b unfit for the sink.
func checkBatch(b *Batch) error {
	switch {
	case b.Kind != KindCounter && b.Kind != KindBuffer:
		return fmt.Errorf("unknown kind %q", b.Kind)
	case b.Kind == KindCounter && len(b.Values) > 0:
		return errors.New("counter batch holds buffer values")
	case b.Kind == KindBuffer && len(b.Counts) > 0:
		return errors.New("buffer batch holds counts")
	case b.ID == "" && b.Len() > 0:
		// Recorded as applied, an empty ID would make every later batch
		// without one look applied already.
		return errors.New("batch has no ID")
	}
	return nil
}

// sumCounts adds up the deltas of each key and returns the keys in
// ascending order, so that concurrent flushes lock the rows they share in
// the same order instead of deadlocking.
func sumCounts(cs []Count) ([]string, []int64, error) {
	sums := make([]Count, 0, len(cs))
	at := make(map[string]int, len(cs))
	for _, c := range cs {
		i, ok := at[c.Key]
		if !ok {
			at[c.Key] = len(sums)
			sums = append(sums, c)
			continue
		}
		s := sums[i].Count + c.Count
		if (c.Count > 0 && s < sums[i].Count) || (c.Count < 0 && s > sums[i].Count) {
			return nil, nil, fmt.Errorf("key %q: deltas overflow int64", c.Key)
		}
		sums[i].Count = s
	}
	slices.SortFunc(sums, func(a, b Count) int { return strings.Compare(a.Key, b.Key) })
	keys := make([]string, len(sums))
	deltas := make([]int64, len(sums))
	for i, c := range sums {
		keys[i], deltas[i] = c.Key, c.Count
	}
	return keys, deltas, nil
}

// flush runs the batch's transaction. Its errors name the table or the
// step that failed.
func (p *Postgres) flush(ctx context.Context, b *Batch, keys []string, deltas []int64) (err error) {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	committed := false
	defer func() {
		if committed {
			return
		}
		// Roll back even when ctx has ended, but not for long: if the
		// server does not answer, the pool drops the connection, which
		// rolls back as well.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pgCancelGrace)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()

	tag, err := tx.Exec(ctx, p.recordSQL, b.ID, b.Store)
	if err != nil {
		return fmt.Errorf("table %s: %w", p.batches, err)
	}
	if tag.RowsAffected() == 0 {
		return nil // applied before
	}
	switch b.Kind {
	case KindCounter:
		if _, err := tx.Exec(ctx, p.upsertSQL, b.Store, keys, deltas); err != nil {
			return fmt.Errorf("table %s: %w", p.counters, err)
		}
	case KindBuffer:
		rows := newValueRows(b)
		n, err := tx.CopyFrom(ctx, p.valuesID, valueColumns, rows)
		if err != nil {
			return fmt.Errorf("table %s: %w", p.values, err)
		}
		if n != int64(rows.total) {
			return fmt.Errorf("table %s: copied %d rows of %d", p.values, n, rows.total)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	committed = true
	return nil
}

// valueRows feeds a buffer batch's values to COPY, one row per value,
// without building all the rows first.
type valueRows struct {
	b     *Batch
	first []int32 // first[i]: the position of b.Values[i].Values[0]
	total int
	i, j  int   // the current row is b.Values[i].Values[j]
	row   []any // reused: CopyFrom encodes each row before asking for the next
}

func newValueRows(b *Batch) *valueRows {
	r := &valueRows{b: b, first: make([]int32, len(b.Values)), i: 0, j: -1}
	// A key normally comes once per batch; if it comes again, its
	// positions go on from where they were.
	next := make(map[string]int32, len(b.Values))
	for i, v := range b.Values {
		r.first[i] = next[v.Key]
		next[v.Key] += int32(len(v.Values))
		r.total += len(v.Values)
	}
	r.row = []any{b.Store, nil, nil, int32(0), b.ID, b.Time}
	return r
}

// Next implements pgx.CopyFromSource.
func (r *valueRows) Next() bool {
	r.j++
	for r.i < len(r.b.Values) && r.j >= len(r.b.Values[r.i].Values) {
		r.i, r.j = r.i+1, 0
	}
	if r.i >= len(r.b.Values) {
		return false
	}
	if r.j == 0 {
		r.row[1] = r.b.Values[r.i].Key
	}
	return true
}

// Values implements pgx.CopyFromSource.
func (r *valueRows) Values() ([]any, error) {
	v := r.b.Values[r.i].Values[r.j]
	if v == nil {
		v = []byte{} // the column is NOT NULL; nil and empty are the same value to hoard
	}
	r.row[2] = v
	r.row[3] = r.first[r.i] + int32(r.j)
	return r.row, nil
}

// Err implements pgx.CopyFromSource.
func (r *valueRows) Err() error { return nil }

// pgPermanent reports whether err comes from the server with a SQLSTATE
// that retrying cannot change: data exceptions (class 22: a counter out of
// bigint's range, bytes not valid in text), integrity constraint
// violations (23), and syntax errors or access rule violations (42:
// undefined table or column, insufficient privilege, a table without the
// unique key ON CONFLICT needs).
func pgPermanent(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || len(pe.Code) != 5 {
		return false
	}
	switch pe.Code[:2] {
	case "22", "23", "42":
		return true
	}
	return false
}

// Close closes the pool's connections, waiting for the ones in use.
// Flushes after Close fail. It is safe to call more than once.
func (p *Postgres) Close() { p.pool.Close() }
