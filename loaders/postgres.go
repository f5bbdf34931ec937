package loaders

import (
	"context"
	"errors"
	"fmt"
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
	// Timeout bounds one load, and connecting when the DSN sets no
	// connect_timeout. 0 means DefaultTimeout (5s); the context passed to
	// Load may cut it shorter. At the deadline the server is asked to
	// cancel the query; the connection is cut a second later if it has not.
	Timeout time.Duration
}

// Validate reports whether c is usable: a DSN that parses, a Query, and no
// negative Timeout. It does not connect.
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
	case c.Timeout < 0:
		return nil, fmt.Errorf("loaders: postgres %s: negative Timeout %v", name, c.Timeout)
	}
	return pc, nil
}

// Postgres loads a key by running a query with the key as $1 on a pool of
// connections: the one column of the one row is the value, no row is
// ErrNotFound. It is safe for concurrent use.
type Postgres struct {
	name    string // describe's, for errors
	query   string
	timeout time.Duration
	pool    *pgxpool.Pool
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
	p := &Postgres{name: endpoint.Postgres(pc.ConnConfig.Config), query: cfg.Query, timeout: cfg.Timeout}
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
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) && !errors.Is(err, ErrNotFound) {
		// The server cancelled the query at our request: say why.
		err = fmt.Errorf("%w (%w)", ctx.Err(), err)
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
	switch oid {
	case pgtype.ByteaOID:
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		if b == nil {
			b = []byte{}
		}
		return b, nil
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID,
		pgtype.JSONOID, pgtype.JSONBOID, pgtype.XMLOID, pgtype.UnknownOID:
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		return []byte(s), nil
	}
	return nil, fmt.Errorf("OID %d is neither bytea nor text: cast it in the query (::text or ::bytea)", oid)
}

// Close closes the pool's connections, waiting for the ones in use. Loads
// after Close fail. It is safe to call more than once.
func (p *Postgres) Close() { p.pool.Close() }
