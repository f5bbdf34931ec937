package sinks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hoard-dev/hoard/internal/endpoint"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres writes batches to PostgreSQL, one transaction per batch:
// counter deltas are added to the counters table in one upsert, buffer
// values are appended to the values table with COPY (or the configured
// statements run instead), and the batch is recorded as applied in the
// same transaction, so that a batch that is retried or replayed after its
// transaction committed (say the commit's answer was lost to a timeout) is
// not applied twice. A batch with ranges records them in the positions
// table, which makes the sink a Positioner: each range is applied once,
// whichever batch, node or replay delivers it. A batch without ranges
// records its ID in the batches table. It is safe for concurrent use.
type Postgres struct {
	name string // endpoint.Postgres's, for errors
	pool *pgxpool.Pool

	counters, values, batches, positions string         // sanitized table names
	valuesID                             pgx.Identifier // for CopyFrom
	countersStmt, valuesStmt             string         // the user's, or ""

	recordSQL, upsertSQL                          string
	appliedSQL, appliedOfSQL, clearSQL, rangesSQL string
}

var _ Borrower = (*Postgres)(nil)

// BorrowsBatches marks the sink as a Borrower: it keeps none of a batch's slices.
func (*Postgres) BorrowsBatches() {}

// valueColumns are the values table's columns COPY fills, in row order.
var valueColumns = []string{"store", "key", "value", "position", "batch", "time"}

// NewPostgres validates cfg, creates the connection pool and checks that
// the database answers, within ctx and Timeout (or the DSN's
// connect_timeout), so that a wrong DSN or a database that is down fails
// at start rather than at the first flush. With CreateTables it then
// creates the missing tables. It does not check that existing tables fit
// or that the statements run: a flush to a table that is missing or lacks
// a column fails with an error wrapping ErrPermanent. Close releases the
// pool.
func NewPostgres(ctx context.Context, cfg PostgresConfig) (*Postgres, error) {
	pc, t, err := cfg.poolConfig()
	if err != nil {
		return nil, err
	}
	p := &Postgres{
		name:         endpoint.Postgres(pc.ConnConfig.Config),
		counters:     t.counters.Sanitize(),
		values:       t.values.Sanitize(),
		batches:      t.batches.Sanitize(),
		positions:    t.positions.Sanitize(),
		valuesID:     t.values,
		countersStmt: cfg.CountersStatement,
		valuesStmt:   cfg.ValuesStatement,
	}
	p.recordSQL = `INSERT INTO ` + p.batches + ` (batch, store) VALUES ($1, $2) ON CONFLICT (batch) DO NOTHING`
	p.upsertSQL = `INSERT INTO ` + p.counters + ` (store, key, count)
SELECT $1, k, c FROM unnest($2::text[], $3::bigint[]) AS t(k, c)
ON CONFLICT (store, key) DO UPDATE SET count = ` + p.counters + `.count + excluded.count`
	p.appliedSQL = `SELECT partition, first, last FROM ` + p.positions + ` WHERE store = $1 AND origin = $2`
	p.appliedOfSQL = p.appliedSQL + ` AND partition = ANY($3::int[])`
	p.clearSQL = `DELETE FROM ` + p.positions + ` WHERE store = $1 AND origin = $2 AND partition = ANY($3::int[])`
	p.rangesSQL = `INSERT INTO ` + p.positions + ` (store, origin, partition, first, last)
SELECT $1, $2, p, f, l FROM unnest($3::int[], $4::bigint[], $5::bigint[]) AS t(p, f, l)`

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
	if err := p.checkStatements(ctx); err != nil {
		p.pool.Close()
		return nil, fmt.Errorf("sinks: postgres %s: %w", p.name, err)
	}
	return p, nil
}

// createTables runs the DDL under an advisory lock.
func (p *Postgres) createTables(ctx context.Context) error {
	counters, values := p.counters, p.values
	if p.countersStmt != "" {
		counters = ""
	}
	if p.valuesStmt != "" {
		values = ""
	}
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgCreateLock); err != nil {
			return err
		}
		// Without arguments pgx sends the statements in one simple query.
		_, err := tx.Exec(ctx, ddl(counters, values, p.batches, p.positions))
		return err
	})
}

// Flush applies b in one transaction, unless it was applied before: then
// it returns nil and changes nothing. A batch with ranges is checked range
// by range against the positions table: the data of a partition whose
// ranges were applied before is left out, and the rest applied. A batch
// without ranges is applied unless a batch with its ID was. An empty batch
// without ranges is not recorded.
//
// A batch without an ID, of an unknown kind, or holding the data of the
// other kind is refused with an error wrapping ErrPermanent; so are
// counter deltas of one key that overflow an int64 between them, ranges
// without an origin, overlapping each other or not covering the data's
// partitions, a range that overlaps applied ops without being contained in
// them, and a partition with both applied and new ranges. Nothing of a
// refused batch is applied.
//
// On failure the transaction is rolled back and the error names the table
// (or statement) and the batch. It wraps ErrPermanent when trying again
// cannot help: the table or a column is missing, privileges are lacking, a
// counter would overflow, a value breaks a constraint (SQLSTATE classes
// 22, 23 and 42). Other errors (connection, timeout, serialization
// failure, deadlock) are worth retrying. When ctx ends the server is asked
// to cancel the running statement and the error wraps ctx's. Flush does
// not keep b.
func (p *Postgres) Flush(ctx context.Context, b Batch) error {
	if err := ctx.Err(); err != nil {
		return p.errorf(&b, err)
	}
	if err := checkBatch(&b); err != nil {
		return p.permanent(&b, err)
	}
	if b.Len() == 0 && len(b.Ranges) == 0 {
		return nil
	}
	var keys []string
	var deltas []int64
	if b.Kind == KindCounter {
		var err error
		if keys, deltas, err = sumCounts(b.Counts); err != nil {
			return p.permanent(&b, err)
		}
	}
	err := p.flush(ctx, &b, keys, deltas)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return p.errorf(&b, endpoint.Cancelled(ctx, err))
	}
	if be := (batchError{}); errors.As(err, &be) || pgPermanent(err) {
		return p.permanent(&b, err)
	}
	return p.errorf(&b, err)
}

func (p *Postgres) errorf(b *Batch, err error) error {
	return fmt.Errorf("sinks: postgres %s: %s batch %q of %q: %w", p.name, b.Kind, b.ID, b.Store, err)
}

func (p *Postgres) permanent(b *Batch, err error) error {
	return fmt.Errorf("%w: postgres %s: %s batch %q of %q: %w", ErrPermanent, p.name, b.Kind, b.ID, b.Store, err)
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
	case len(b.Ranges) > 0:
		return checkRanges(b)
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
		// rolls back as well. A batch applied before is rolled back too:
		// it wrote nothing.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pgCancelGrace)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()

	if len(b.Ranges) == 0 {
		tag, err := tx.Exec(ctx, p.recordSQL, b.ID, b.Store)
		if err != nil {
			return fmt.Errorf("table %s: %w", p.batches, err)
		}
		if tag.RowsAffected() == 0 {
			return nil // applied before
		}
	} else {
		skip, all, err := p.recordRanges(ctx, tx, b)
		if err != nil {
			return err
		}
		if all {
			return nil // applied before, all of it
		}
		if len(skip) > 0 {
			b = withoutPartitions(b, skip)
			if b.Kind == KindCounter {
				if keys, deltas, err = sumCounts(b.Counts); err != nil {
					return batchError{err}
				}
			}
		}
	}
	switch b.Kind {
	case KindCounter:
		if err := p.writeCounters(ctx, tx, b.Store, keys, deltas); err != nil {
			return err
		}
	case KindBuffer:
		if err := p.writeValues(ctx, tx, b); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	committed = true
	return nil
}

// withoutPartitions returns a copy of b without the data of the
// partitions in skip.
func withoutPartitions(b *Batch, skip map[int]bool) *Batch {
	c := *b
	c.Counts, c.Values = nil, nil
	for _, x := range b.Counts {
		if !skip[x.Partition] {
			c.Counts = append(c.Counts, x)
		}
	}
	for _, x := range b.Values {
		if !skip[x.Partition] {
			c.Values = append(c.Values, x)
		}
	}
	return &c
}

// writeCounters adds the deltas to the counters table, or runs the
// counters statement.
func (p *Postgres) writeCounters(ctx context.Context, tx pgx.Tx, store string, keys []string, deltas []int64) error {
	switch {
	case len(keys) == 0:
		return nil
	case p.countersStmt != "":
		if _, err := tx.Exec(ctx, p.countersStmt, keys, deltas); err != nil {
			return fmt.Errorf("counters statement: %w", err)
		}
	default:
		if _, err := tx.Exec(ctx, p.upsertSQL, store, keys, deltas); err != nil {
			return fmt.Errorf("table %s: %w", p.counters, err)
		}
	}
	return nil
}

// writeValues copies b's values to the values table, or runs the values
// statement.
func (p *Postgres) writeValues(ctx context.Context, tx pgx.Tx, b *Batch) error {
	if p.valuesStmt != "" {
		var keys []string
		var values [][]byte
		for _, v := range b.Values {
			for _, x := range v.Values {
				if x == nil {
					x = []byte{} // nil and empty are the same value to hoard
				}
				keys, values = append(keys, v.Key), append(values, x)
			}
		}
		if len(keys) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, p.valuesStmt, keys, values); err != nil {
			return fmt.Errorf("values statement: %w", err)
		}
		return nil
	}
	rows := newValueRows(b)
	if rows.total == 0 {
		return nil
	}
	n, err := tx.CopyFrom(ctx, p.valuesID, valueColumns, rows)
	if err != nil {
		return fmt.Errorf("table %s: %w", p.values, err)
	}
	if n != int64(rows.total) {
		return fmt.Errorf("table %s: copied %d rows of %d", p.values, n, rows.total)
	}
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

// checkStatements has the server parse the user's own statements, so that
// one that cannot run (a syntax error, a missing table, another number of
// parameters than the two it is given) stops the start with its error
// instead of dead-lettering every batch.
func (p *Postgres) checkStatements(ctx context.Context) error {
	for _, st := range []struct{ field, sql, second string }{
		{"CountersStatement", p.countersStmt, "deltas"},
		{"ValuesStatement", p.valuesStmt, "values"},
	} {
		if st.sql == "" {
			continue
		}
		conn, err := p.pool.Acquire(ctx)
		if err != nil {
			return err
		}
		sd, err := conn.Conn().Prepare(ctx, "", st.sql)
		conn.Release()
		switch {
		case err != nil:
			return fmt.Errorf("%s does not run: %w", st.field, err)
		case len(sd.ParamOIDs) != 2:
			return fmt.Errorf("%s takes %d parameters; it is given two ($1 the keys, $2 the %s)", st.field, len(sd.ParamOIDs), st.second)
		}
	}
	return nil
}
