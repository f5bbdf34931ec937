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
// PostgresDDL), one transaction per batch, recording each batch's ID so that
// a batch that is retried or replayed is applied at most once.
package sinks
