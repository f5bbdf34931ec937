// Package ledger keeps the books of hoard's durability tests: writers
// record how each op ended (acknowledged, of unknown outcome, or refused),
// and Compare sets that against what a sink holds, counting the
// acknowledged writes lost and those applied twice. The in-process churn
// test, the agents' end-to-end tests and the Docker chaos tests keep the
// same books this way.
package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/hoard-dev/hoard/client"
)

// Ledger records the increments (of one, on a counter store's keys) and
// the inserts (of values unique to each op, into a buffer store) that
// writers sent, and how each ended. It is safe for concurrent use; its
// zero value is not: use New.
type Ledger struct {
	// mu guards acked, maybe and values.
	mu     sync.Mutex
	acked  map[string]int64 // increments acknowledged, per key
	maybe  map[string]int64 // increments of unknown outcome, per key
	values map[string]bool  // every value not refused: true acknowledged, false unknown

	acks, unknown, refused atomic.Int64
}

// New returns an empty ledger.
func New() *Ledger {
	return &Ledger{acked: map[string]int64{}, maybe: map[string]int64{}, values: map[string]bool{}}
}

// Indeterminate reports whether an op that ended with err may have been
// applied (once): the client lost its answer (client.ErrIndeterminate) or
// stopped waiting for it. Any other error is a refusal: not applied.
func Indeterminate(err error) bool {
	return errors.Is(err, client.ErrIndeterminate) || errors.Is(err, context.DeadlineExceeded)
}

// Incr records how an increment of key by one ended: err nil for
// acknowledged.
func (l *Ledger) Incr(key string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err == nil:
		l.acked[key]++
		l.acks.Add(1)
	case Indeterminate(err):
		l.maybe[key]++
		l.unknown.Add(1)
	default:
		l.refused.Add(1)
	}
}

// Insert records how an insert of value, sent by no other op, ended: err
// nil for acknowledged.
func (l *Ledger) Insert(value string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err == nil:
		l.values[value] = true
		l.acks.Add(1)
	case Indeterminate(err):
		l.values[value] = false // there once or not at all; never twice
		l.unknown.Add(1)
	default:
		l.refused.Add(1)
	}
}

// Acks, Unknown and Refused count the ops recorded so far by how they
// ended.
func (l *Ledger) Acks() int64    { return l.acks.Load() }
func (l *Ledger) Unknown() int64 { return l.unknown.Load() }
func (l *Ledger) Refused() int64 { return l.refused.Load() }

// Report is a ledger set against a sink.
type Report struct {
	Incrs, Lost, Doubled int64 // increments acknowledged, and those missing or counted twice
	Values               int   // values acknowledged
	// OffKeys describes each key whose sum is below what was acknowledged,
	// or above it plus the increments of unknown outcome, sorted.
	OffKeys []string
	// DoubledValues are the values the sink holds more than once,
	// StrayValues those it holds that were refused or never sent, and
	// MissingValues the acknowledged ones it lacks; each sorted.
	DoubledValues, StrayValues, MissingValues []string

	MaybeIncrs   int64 // increments of unknown outcome
	MaybeValues  int   // values of unknown outcome
	MaybeApplied int64 // of those ops, how many the sink holds (each at most once)
}

// OK reports whether the sink holds every acknowledged op exactly once and
// nothing it should not.
func (r Report) OK() bool {
	return r.Lost == 0 && r.Doubled == 0 && len(r.MissingValues) == 0 &&
		len(r.DoubledValues) == 0 && len(r.StrayValues) == 0
}

func (r Report) String() string {
	s := fmt.Sprintf("%d acknowledged increments (lost %d, doubled %d), %d acknowledged values (lost %d, twice %d, refused yet there %d); unknown outcome: %d increments and %d values, of which %d applied",
		r.Incrs, r.Lost, r.Doubled, r.Values, len(r.MissingValues), len(r.DoubledValues), len(r.StrayValues), r.MaybeIncrs, r.MaybeValues, r.MaybeApplied)
	for _, l := range []struct {
		what string
		list []string
	}{{"keys off", r.OffKeys}, {"values missing", r.MissingValues}, {"values twice", r.DoubledValues}, {"values refused yet there", r.StrayValues}} {
		if len(l.list) > 0 {
			s += fmt.Sprintf("; %s: %s", l.what, strings.Join(l.list[:min(len(l.list), 10)], ", "))
			if len(l.list) > 10 {
				s += fmt.Sprintf(" and %d more", len(l.list)-10)
			}
		}
	}
	return s
}

// Compare sets the ledger against what a sink holds: counts, the sum of
// each key, and rows, how many times it holds each value. An op of unknown
// outcome may be there once, or not at all.
func (l *Ledger) Compare(counts map[string]int64, rows map[string]int) Report {
	l.mu.Lock()
	defer l.mu.Unlock()
	var r Report
	keys := map[string]bool{}
	for _, m := range []map[string]int64{l.acked, l.maybe, counts} {
		for k := range m {
			keys[k] = true
		}
	}
	for k := range keys {
		acked, maybe, got := l.acked[k], l.maybe[k], counts[k]
		r.Incrs += acked
		r.MaybeIncrs += maybe
		switch {
		case got < acked:
			r.Lost += acked - got
		case got > acked+maybe:
			r.Doubled += got - acked - maybe
			r.MaybeApplied += maybe
		default:
			r.MaybeApplied += got - acked
		}
		if got < acked || got > acked+maybe {
			r.OffKeys = append(r.OffKeys, fmt.Sprintf("%s: sink %d, acknowledged %d (+%d unknown)", k, got, acked, maybe))
		}
	}
	for v, sure := range l.values {
		switch {
		case sure:
			r.Values++
			if rows[v] == 0 {
				r.MissingValues = append(r.MissingValues, v)
			}
		default:
			r.MaybeValues++
			if rows[v] > 0 {
				r.MaybeApplied++
			}
		}
	}
	for v, n := range rows {
		if n > 1 {
			r.DoubledValues = append(r.DoubledValues, v)
		}
		if _, sent := l.values[v]; !sent {
			r.StrayValues = append(r.StrayValues, v)
		}
	}
	for _, s := range [][]string{r.OffKeys, r.DoubledValues, r.StrayValues, r.MissingValues} {
		slices.Sort(s)
	}
	return r
}

// ReadPostgres reads what the PostgreSQL sink holds for a counter store
// and a buffer store, in the tables it writes them to (names the caller
// made, put in the query as they are): each key's sum, and how many rows
// hold each value.
func ReadPostgres(ctx context.Context, conn *pgx.Conn, countersTable, counterStore, valuesTable, valueStore string) (counts map[string]int64, rows map[string]int, err error) {
	counts, rows = map[string]int64{}, map[string]int{}
	cr, err := conn.Query(ctx, "SELECT key, count FROM "+countersTable+" WHERE store = $1", counterStore)
	if err != nil {
		return nil, nil, err
	}
	var k string
	var c int64
	if _, err := pgx.ForEachRow(cr, []any{&k, &c}, func() error { counts[k] += c; return nil }); err != nil {
		return nil, nil, err
	}
	vr, err := conn.Query(ctx, "SELECT value FROM "+valuesTable+" WHERE store = $1", valueStore)
	if err != nil {
		return nil, nil, err
	}
	var v []byte
	if _, err := pgx.ForEachRow(vr, []any{&v}, func() error { rows[string(v)]++; return nil }); err != nil {
		return nil, nil, err
	}
	return counts, rows, nil
}
