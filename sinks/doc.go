// Package sinks defines where flushed data goes: the Sink interface, the
// Batch a flush hands to it, and the sinks themselves: File (JSON Lines,
// fsync per batch), Writer (JSON Lines to stdout or any io.Writer) and
// Memory (for tests). An embedding program can use any function:
//
//	sink := sinks.SinkFunc(func(ctx context.Context, b sinks.Batch) error {
//		for _, c := range b.Counts {
//			// UPDATE pageviews SET n = n + c.Count WHERE path = c.Key ...
//		}
//		return nil
//	})
//
// Postgres writes counter deltas and buffer values to PostgreSQL tables (see
// PostgresDDL), or runs the user's own statements, one transaction per
// batch. In the same transaction it records what it applied: the ranges of
// ops a batch carries (it is a Positioner, so each op is applied exactly
// once whoever delivers it and in whatever order), or, for a batch without
// ranges, its ID, so that a batch that is retried or replayed is applied at
// most once.
//
// A sink that keeps nothing of a batch once Flush returns can say so by
// being a Borrower (File, Writer, Postgres and HTTP are): hoard then reuses
// a counter batch's memory for the next flush.
package sinks
