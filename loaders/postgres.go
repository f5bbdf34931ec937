package loaders

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hoard-dev/hoard/internal/endpoint"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// cancelGrace is how long a query may outlive its deadline while the
// server is asked to cancel it, before the connection is cut.
const cancelGrace = time.Second

// PostgresConfig configures a PostgreSQL loader.
type PostgresConfig struct {
	// DSN is a libpq connection string, URL or key=value
	// ("postgres://hoard@db:5432/app?sslmode=verify-full"): TLS, the pool
	// size (pool_max_conns, default max(4, CPUs)), connect_timeout and the
	// query mode (default_query_exec_mode) all come from it. Required.
	// Errors never quote its password.
	DSN string
	// Query is run with $1 = the key and must return one column, of type
	// bytea (the value as is) or text-like (text, varchar, char, name, json,
	// jsonb, xml: the value is its UTF-8 text), in at most one row:
	// "SELECT body FROM users WHERE id = $1". Cast other types to text or
	// bytea in the query. Required.
	Query string
	// InitQuery, when set, seeds the cache at start (DataWorker's init/1):
	// it takes no parameter and returns two columns, the key and the value,
	// each bytea or text-like like Query's, a row per entry: "SELECT id,
	// profile FROM users WHERE active". A row with a NULL value is skipped;
	// a NULL key is an error. Empty: no seeding (see Postgres.Loader).
	InitQuery string
	// Timeout bounds one load and the init query, and connecting when the
	// DSN sets no connect_timeout. 0 means DefaultTimeout (5s); the
	// context passed to Load may cut it shorter. At the deadline the server
	// is asked to cancel the query; the connection is cut a second later
	// if it has not.
	Timeout time.Duration
}

// Validate reports whether c is usable: a DSN that parses, a Query, an
// InitQuery that is not blank if set, and no negative Timeout. It does not
// connect.
func (c *PostgresConfig) Validate() error {
	_, err := c.poolConfig()
	return err
}

// poolConfig validates c and returns the pool's configuration.
func (c *PostgresConfig) poolConfig() (*pgxpool.Config, error) {
	if c.DSN == "" {
		return nil, errors.New("loaders: postgres: DSN is required")
	}
	pc, err := pgxpool.ParseConfig(c.DSN)
	if err != nil {
		// pgx redacts the password in a ParseConfigError.
		return nil, fmt.Errorf("loaders: postgres: invalid DSN: %w", err)
	}
	name := endpoint.Postgres(pc.ConnConfig.Config)
	switch {
	case c.Query == "":
		return nil, fmt.Errorf("loaders: postgres %s: Query is required", name)
	case c.InitQuery != "" && strings.TrimSpace(c.InitQuery) == "":
		return nil, fmt.Errorf("loaders: postgres %s: InitQuery is blank; leave it empty for no seeding", name)
	case c.Timeout < 0:
		return nil, fmt.Errorf("loaders: postgres %s: negative Timeout %v", name, c.Timeout)
	}
	return pc, nil
}

// Postgres loads a key by running a query with the key as $1 on a pool of
// connections: the one column of the one row is the value, no row is
// ErrNotFound. With an InitQuery it seeds the cache too (see Loader). It
// is safe for concurrent use.
type Postgres struct {
	name      string // describe's, for errors
	query     string
	initQuery string
	timeout   time.Duration
	pool      *pgxpool.Pool
}

var _ Loader = (*Postgres)(nil)

// NewPostgres validates cfg, creates the connection pool and checks that
// the database answers, within ctx and Timeout (or the DSN's
// connect_timeout), so that a wrong DSN fails at start rather than at the
// first miss; so does a database that is down at start. Close releases the
// pool.
func NewPostgres(ctx context.Context, cfg PostgresConfig) (*Postgres, error) {
	pc, err := cfg.poolConfig()
	if err != nil {
		return nil, err
	}
	p := &Postgres{name: endpoint.Postgres(pc.ConnConfig.Config), query: cfg.Query, initQuery: cfg.InitQuery, timeout: cfg.Timeout}
	if p.timeout == 0 {
		p.timeout = DefaultTimeout
	}
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = p.timeout
	}
	// Ask the server to stop a query whose context ends, instead of only
	// dropping the connection and leaving the query running there.
	pc.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: cancelGrace}
	}
	p.pool, err = pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("loaders: postgres %s: %w", p.name, err)
	}
	pctx, cancel := context.WithTimeout(ctx, pc.ConnConfig.ConnectTimeout)
	defer cancel()
	if err := p.pool.Ping(pctx); err != nil {
		p.pool.Close()
		return nil, fmt.Errorf("loaders: postgres %s: %w", p.name, err)
	}
	return p, nil
}

// Load runs the query with $1 = key. It returns the value of the one
// column of the one row (the caller owns it); an error wrapping ErrNotFound
// when there is no row or the value is NULL; an error when the query fails,
// returns other than one column, a column of an unsupported type, or more
// than one row; and the context's error (wrapped) when ctx or the loader's
// Timeout runs out.
func (p *Postgres) Load(ctx context.Context, key string) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	v, err := p.load(ctx, key)
	if !errors.Is(err, ErrNotFound) {
		err = endpoint.Cancelled(ctx, err)
	}
	if err != nil {
		return Result{}, fmt.Errorf("loaders: postgres %s: key %q: %w", p.name, key, err)
	}
	return Result{Value: v}, nil
}

func (p *Postgres) load(ctx context.Context, key string) ([]byte, error) {
	// Hold the connection until done: the rows of Pool.Query give theirs
	// back when Next returns false, after which FieldDescriptions reads
	// state the connection's next user overwrites.
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	rows, err := conn.Query(ctx, p.query, key)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	// The columns are known once the first row, or the end, has been read.
	found := rows.Next()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	fds := rows.FieldDescriptions()
	if len(fds) != 1 {
		return nil, fmt.Errorf("query returns %d columns, want 1", len(fds))
	}
	if !found {
		return nil, ErrNotFound
	}
	var v []byte
	if rows.RawValues()[0] != nil {
		v, err = scanValue(rows, fds[0].DataTypeOID)
		if err != nil {
			if t, ok := conn.Conn().TypeMap().TypeForOID(fds[0].DataTypeOID); ok {
				err = fmt.Errorf("type %s: %w", t.Name, err)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", fds[0].Name, err)
		}
	}
	if rows.Next() {
		return nil, errors.New("query returns more than one row")
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if v == nil {
		return nil, fmt.Errorf("column %s is NULL: %w", fds[0].Name, ErrNotFound)
	}
	return v, nil
}

// scanValue returns the current row's only value: bytea as is, text-like
// types as their text.
func scanValue(rows interface{ Scan(...any) error }, oid uint32) ([]byte, error) {
	dst, value, err := column(oid)
	if err != nil {
		return nil, err
	}
	if err := rows.Scan(dst); err != nil {
		return nil, err
	}
	return value(), nil
}

// column returns where to scan a non-NULL column of type oid, and a func
// that returns the bytes scanned there: bytea as is, text-like types as
// their text.
func column(oid uint32) (dst any, value func() []byte, err error) {
	switch oid {
	case pgtype.ByteaOID:
		var b []byte
		return &b, func() []byte {
			if b == nil {
				return []byte{}
			}
			return b
		}, nil
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID,
		pgtype.JSONOID, pgtype.JSONBOID, pgtype.XMLOID, pgtype.UnknownOID:
		var s string
		return &s, func() []byte { return []byte(s) }, nil
	}
	return nil, nil, fmt.Errorf("OID %d is neither bytea nor text: cast it in the query (::text or ::bytea)", oid)
}

// Loader returns p as the loader to give a cache store: p itself without a
// PostgresConfig.InitQuery; with one, a Loader that loads with p and is
// also an Initializer whose Init seeds the store with the rows of
// InitQuery, run under the loader's Timeout: each row's first column is a
// key, its second the key's value (the caller owns the entries; a repeated
// key keeps its last row). A query that fails, returns other than two
// columns or a column of an unsupported type, or a NULL key, is an error;
// none wraps ErrStopStart, so the node starts without the entries.
func (p *Postgres) Loader() Loader {
	if p.initQuery == "" {
		return p
	}
	return seeding{p, p.init}
}

func (p *Postgres) init(ctx context.Context) (map[string][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	entries, err := p.initRows(ctx)
	if err != nil {
		return nil, fmt.Errorf("loaders: postgres %s: init query: %w", p.name, endpoint.Cancelled(ctx, err))
	}
	return entries, nil
}

func (p *Postgres) initRows(ctx context.Context) (map[string][]byte, error) {
	// The connection is held until done, as in load.
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	rows, err := conn.Query(ctx, p.initQuery)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	entries := map[string][]byte{}
	var dsts []any
	var values []func() []byte
	for rows.Next() {
		if dsts == nil {
			fds := rows.FieldDescriptions()
			if len(fds) != 2 {
				return nil, fmt.Errorf("query returns %d columns, want 2 (key, value)", len(fds))
			}
			for _, fd := range fds {
				dst, value, err := column(fd.DataTypeOID)
				if err != nil {
					if t, ok := conn.Conn().TypeMap().TypeForOID(fd.DataTypeOID); ok {
						err = fmt.Errorf("type %s: %w", t.Name, err)
					}
					return nil, fmt.Errorf("column %s: %w", fd.Name, err)
				}
				dsts, values = append(dsts, dst), append(values, value)
			}
		}
		raw := rows.RawValues()
		if raw[0] == nil {
			return nil, fmt.Errorf("column %s: a NULL key", rows.FieldDescriptions()[0].Name)
		}
		if raw[1] == nil {
			continue
		}
		if err := rows.Scan(dsts...); err != nil {
			return nil, err
		}
		entries[string(values[0]())] = values[1]()
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if fds := rows.FieldDescriptions(); len(fds) != 2 {
		return nil, fmt.Errorf("query returns %d columns, want 2 (key, value)", len(fds))
	}
	return entries, nil
}

// Close closes the pool's connections, waiting for the ones in use. Loads
// after Close fail. It is safe to call more than once.
func (p *Postgres) Close() { p.pool.Close() }
