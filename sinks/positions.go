package sinks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"slices"

	"github.com/jackc/pgx/v5"
)

// This file holds what the Postgres sink does with a batch's ranges: it
// records them in the positions table, in the batch's transaction, and
// applies a partition's data only if its ranges were not applied before.

var _ Positioner = (*Postgres)(nil)

// batchError is a fault of the batch itself found inside its transaction,
// which no retry can fix: Flush wraps ErrPermanent around it.
type batchError struct{ err error }

func (e batchError) Error() string { return e.err.Error() }
func (e batchError) Unwrap() error { return e.err }

// checkRanges reports what makes the ranges of b, which has some, unfit:
// no origin, a range out of bounds or overlapping another of the batch,
// data of a partition the ranges do not cover.
func checkRanges(b *Batch) error {
	if b.Origin == "" {
		return errors.New("batch has ranges but no origin")
	}
	for _, r := range b.Ranges {
		switch {
		case r.Partition < 0 || r.Partition > math.MaxInt32:
			return fmt.Errorf("range %d-%d: partition %d out of range", r.First, r.Last, r.Partition)
		case r.First > r.Last:
			return fmt.Errorf("range %d-%d of partition %d is backwards", r.First, r.Last, r.Partition)
		case r.Last > math.MaxInt64:
			return fmt.Errorf("range %d-%d of partition %d: sequence numbers above 2^63-1", r.First, r.Last, r.Partition)
		}
	}
	parts := rangesByPartition(b.Ranges)
	for p, rs := range parts {
		for i := 1; i < len(rs); i++ {
			if rs[i].First <= rs[i-1].Last {
				return fmt.Errorf("ranges %d-%d and %d-%d of partition %d overlap", rs[i-1].First, rs[i-1].Last, rs[i].First, rs[i].Last, p)
			}
		}
	}
	for _, c := range b.Counts {
		if _, ok := parts[c.Partition]; !ok {
			return fmt.Errorf("key %q of partition %d: no range of the batch covers the partition", c.Key, c.Partition)
		}
	}
	for _, v := range b.Values {
		if _, ok := parts[v.Partition]; !ok {
			return fmt.Errorf("key %q of partition %d: no range of the batch covers the partition", v.Key, v.Partition)
		}
	}
	return nil
}

// rangesByPartition groups rs by partition, each group sorted by First.
func rangesByPartition(rs []Range) map[int][]Range {
	out := make(map[int][]Range)
	for _, r := range rs {
		out[r.Partition] = append(out[r.Partition], r)
	}
	for _, g := range out {
		slices.SortFunc(g, func(a, b Range) int { return cmp.Compare(a.First, b.First) })
	}
	return out
}

// mergeRanges returns the union of rs, ranges of one partition sorted by
// First, as ranges that neither overlap nor touch.
func mergeRanges(rs []Range) []Range {
	var out []Range
	for _, r := range rs {
		if n := len(out); n > 0 && r.First <= out[n-1].Last+1 {
			out[n-1].Last = max(out[n-1].Last, r.Last)
			continue
		}
		out = append(out, r)
	}
	return out
}

// positionsPlan is what a batch's transaction does with its ranges.
type positionsPlan struct {
	skip map[int]bool // partitions whose ranges were all applied before
	// clear lists the partitions whose rows are replaced by their rows in
	// rows: the applied ranges and the batch's new ones, merged.
	clear []int32
	rows  []Range
}

// planPositions decides, partition by partition, what to do with the
// batch's ranges given the rows of the positions table for the same
// partitions (both grouped by rangesByPartition): a partition whose ranges
// were all applied is skipped; one whose ranges are all new is applied and
// its rows are rewritten with the new ranges merged in. A range that
// overlaps applied ops without being contained in them, or a partition
// with both applied and new ranges (its data cannot be split between
// them), is refused with a batchError.
//
// Rewriting a partition's rows (usually one) rather than deleting and
// updating the ones merged keeps the statements free of joins, whose plans
// PostgreSQL gets wrong (quadratic) when the table's statistics are stale.
func planPositions(batch, applied map[int][]Range) (positionsPlan, error) {
	plan := positionsPlan{skip: make(map[int]bool)}
	for _, p := range slices.Sorted(maps.Keys(batch)) {
		rows := applied[p]
		done := mergeRanges(rows)
		var fresh []Range
		var seen *Range
		for _, r := range batch[p] {
			switch u, state := locate(r, done); state {
			case rangePartial:
				return positionsPlan{}, batchError{fmt.Errorf("%w: range %d-%d of partition %d overlaps the applied ops %d-%d without being contained in them",
					ErrOverlap, r.First, r.Last, p, u.First, u.Last)}
			case rangeApplied:
				seen = &r
			case rangeNew:
				fresh = append(fresh, r)
			}
		}
		switch {
		case len(fresh) == 0:
			plan.skip[p] = true
			continue
		case seen != nil:
			return positionsPlan{}, batchError{fmt.Errorf("%w: partition %d: range %d-%d was applied before but range %d-%d was not, and their data cannot be told apart",
				ErrOverlap, p, seen.First, seen.Last, fresh[0].First, fresh[0].Last)}
		}
		if len(rows) > 0 {
			plan.clear = append(plan.clear, int32(p))
		}
		all := append(slices.Clone(rows), fresh...)
		slices.SortFunc(all, func(a, b Range) int { return cmp.Compare(a.First, b.First) })
		plan.rows = append(plan.rows, mergeRanges(all)...)
	}
	return plan, nil
}

// rangeState is how a range of a batch relates to the applied ones.
type rangeState int

const (
	rangeNew     rangeState = iota // disjoint from every applied range
	rangeApplied                   // contained in an applied range
	rangePartial                   // overlapping an applied range, not contained in it
)

// locate returns how r relates to done (merged, sorted) and the applied
// range it meets, if any.
func locate(r Range, done []Range) (Range, rangeState) {
	for _, u := range done {
		switch {
		case u.Last < r.First:
			continue
		case u.First > r.Last:
			return Range{}, rangeNew
		case u.First <= r.First && r.Last <= u.Last:
			return u, rangeApplied
		default:
			return u, rangePartial
		}
	}
	return Range{}, rangeNew
}

// positionsLock returns the advisory lock key of (store, origin) in the
// positions table: flushes of one origin take turns deciding what was
// applied, so that two deliveries of a range in flight at once (say a
// zombie owner's and a backup's) cannot both find it new.
func (p *Postgres) positionsLock(store, origin string) int64 {
	h := fnv.New64a()
	for _, s := range []string{p.positions, store, origin} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return int64(h.Sum64())
}

// recordRanges locks b's origin, reads which of b's ranges were applied,
// and records the others, merged with the rows they touch, in tx. It
// returns the partitions whose data must not be applied again, and
// whether that is all of them.
func (p *Postgres) recordRanges(ctx context.Context, tx pgx.Tx, b *Batch) (skip map[int]bool, all bool, err error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, p.positionsLock(b.Store, b.Origin)); err != nil {
		return nil, false, fmt.Errorf("locking origin %q: %w", b.Origin, err)
	}
	batch := rangesByPartition(b.Ranges)
	parts := make([]int32, 0, len(batch))
	for part := range batch {
		parts = append(parts, int32(part))
	}
	rows, err := tx.Query(ctx, p.appliedOfSQL, b.Store, b.Origin, parts)
	if err != nil {
		return nil, false, fmt.Errorf("table %s: %w", p.positions, err)
	}
	applied, err := collectRanges(rows)
	if err != nil {
		return nil, false, fmt.Errorf("table %s: %w", p.positions, err)
	}
	plan, err := planPositions(batch, applied)
	if err != nil {
		return nil, false, err
	}
	if len(plan.clear) > 0 {
		if _, err := tx.Exec(ctx, p.clearSQL, b.Store, b.Origin, plan.clear); err != nil {
			return nil, false, fmt.Errorf("table %s: %w", p.positions, err)
		}
	}
	if len(plan.rows) > 0 {
		ps, firsts, lasts := rangeColumns(plan.rows)
		if _, err := tx.Exec(ctx, p.rangesSQL, b.Store, b.Origin, ps, firsts, lasts); err != nil {
			return nil, false, fmt.Errorf("table %s: %w", p.positions, err)
		}
	}
	return plan.skip, len(plan.skip) == len(batch), nil
}

// rangeColumns returns rs as the columns unnest takes.
func rangeColumns(rs []Range) (parts []int32, firsts, lasts []int64) {
	parts = make([]int32, len(rs))
	firsts = make([]int64, len(rs))
	lasts = make([]int64, len(rs))
	for i, r := range rs {
		parts[i], firsts[i], lasts[i] = int32(r.Partition), int64(r.First), int64(r.Last)
	}
	return parts, firsts, lasts
}

// collectRanges reads rows of (partition, first, last) grouped by
// rangesByPartition.
func collectRanges(rows pgx.Rows) (map[int][]Range, error) {
	var rs []Range
	var part int32
	var first, last int64
	_, err := pgx.ForEachRow(rows, []any{&part, &first, &last}, func() error {
		if first < 0 || first > last {
			return fmt.Errorf("partition %d: invalid range %d-%d", part, first, last)
		}
		rs = append(rs, Range{Partition: int(part), First: uint64(first), Last: uint64(last)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rangesByPartition(rs), nil
}

// Applied returns the ranges of origin's ops of store that the sink has
// applied (the rows of the positions table), by partition, sorted and
// merged where they touch; a partition none of whose ops were applied is
// absent. Batches without ranges leave no trace there. The error names
// the table; the map is the caller's.
func (p *Postgres) Applied(ctx context.Context, store, origin string) (map[int][]Range, error) {
	rows, err := p.pool.Query(ctx, p.appliedSQL, store, origin)
	if err == nil {
		var applied map[int][]Range
		if applied, err = collectRanges(rows); err == nil {
			for part, rs := range applied {
				applied[part] = mergeRanges(rs)
			}
			return applied, nil
		}
	}
	return nil, fmt.Errorf("sinks: postgres %s: ranges of %q applied from origin %q: table %s: %w", p.name, store, origin, p.positions, err)
}
