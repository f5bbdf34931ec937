package flush

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/sinks"
)

// Mode says what a flush takes from its Source, and what becomes of a batch
// that is not delivered.
type Mode int

const (
	// Due is the flush loop's mode: what is due (counters: everything). A
	// batch whose ctx ends before delivery is kept for the next flush.
	Due Mode = iota
	// All takes everything (Flush, a hand-off). A batch whose ctx ends
	// before delivery is kept for the next flush.
	All
	// Final is the flush of a stopping store: everything, after which the
	// Source refuses writes. Every batch not delivered, whatever the cause,
	// is dead-lettered (kept in memory only if the dead-letter cannot be
	// written); if the flush lock cannot be had before ctx ends,
	// what the Source holds goes straight to the dead-letter (a spill).
	Final
)

// String names m for logs: "due", "all" or "final".
func (m Mode) String() string {
	switch m {
	case Due:
		return "due"
	case All:
		return "all"
	case Final:
		return "final"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Pending is a batch on its way to the sink with what it accounts for: the
// ops it acknowledged and the bytes it holds. The pipeline only hands it
// back to Source.Settle; Ops and Bytes are the Source's to interpret.
type Pending struct {
	Batch sinks.Batch
	Ops   int64
	Bytes int64
}

// Source is the store state a pipeline flushes, implemented by the store
// (node's counters and buffers). Take and Settle must be safe for
// concurrent use, with each other and with the store's writers: the
// pipeline calls them with its flush lock held, except at a Final flush
// that cannot get the lock (a spill), which takes and settles without it.
type Source interface {
	// Take swaps out what the store holds for mode, only for the listed
	// partitions (nil: all), as one batch with its ID set; false when there
	// is nothing. Writers are not blocked: they fill fresh maps meanwhile.
	Take(mode Mode, only []int) (Pending, bool)
	// Settle is told that a batch left memory: the sink accepted it or it
	// is on disk in the dead-letter. It is called once per batch taken,
	// possibly several flushes later, and never for a batch kept in memory.
	Settle(Pending)
}

// Config configures a Pipeline. Defaults live with the store's declaration
// (node.DefaultStoreConfig); here every field is what it says.
type Config struct {
	// Store names the store: in logs, errors, and as the dead-letter
	// directory <DeadLetters dir>/<Store>. Required.
	Store string

	// Sink receives the batches. Required. It is called by one goroutine at
	// a time (the flush lock's holder), with no lock of the Source held;
	// a panic is recovered into an error.
	Sink sinks.Sink

	// RetryMax is how many times a batch is tried in all, the first attempt
	// included, before it goes to the dead-letter; 1 means no retry. A
	// sinks.ErrPermanent error dead-letters a batch at once. At least 1.
	RetryMax int

	// RetryDelay is the pause after the first failed attempt; it doubles
	// after each further failure, with ±20% jitter, capped at 5 minutes. A
	// sinks.RetryAfterError asking for longer is waited for instead (also
	// capped at 5 minutes). Shorter recovers sooner from a blip and hits a
	// struggling sink harder. Greater than 0.
	RetryDelay time.Duration

	// FlushTimeout bounds each attempt: the sink's context ends then. Zero
	// or negative means no limit, leaving only the caller's ctx.
	FlushTimeout time.Duration

	// DeadLetters receives the batches that cannot be delivered. Required.
	DeadLetters *DeadLetters

	// Logger receives the pipeline's logs, which add no store field: give
	// it one with the store's name attached. Nil discards them.
	Logger hclog.Logger

	// Stopping is the node's context, ending when it starts stopping: a
	// hand-off flush (Lose) gives way then. Nil means never.
	Stopping context.Context

	// Overlap rebuilds, from its ops one by one, a batch that a
	// sinks.Positioner refused with sinks.ErrOverlap (a failover applied
	// some of its ranges), leaving out what the sink applied; false: none
	// is left. Nil: such a batch is dead-lettered like any permanent
	// failure.
	Overlap Rebuild
	// Go runs a hand-off flush on a goroutine the node waits for; it
	// returns false, without running it, once the node is stopping. Nil
	// runs it with a go statement.
	Go func(func()) bool

	// Owns reports whether this node owns partition p in its ring now: a
	// hand-off flush of lost partitions (Lose) leaves out those it owns
	// again by the time it runs. Nil: it leaves out none.
	Owns func(p int) bool
}

// Rebuild rebuilds b, a batch a sinks.Positioner refused with
// sinks.ErrOverlap, from its ops one by one, leaving out those the sink
// applied. It returns false when none is left to deliver.
type Rebuild func(ctx context.Context, b sinks.Batch) (sinks.Batch, bool, error)

// maxRetryDelay caps the exponential backoff between flush attempts, and
// the wait a Retry-After asks for.
const maxRetryDelay = 5 * time.Minute

// ErrInvalidConfig is returned (wrapped) by Config.Validate, and by Flush
// and Replay of a pipeline made from an invalid Config.
var ErrInvalidConfig = errors.New("flush: invalid config")

// Validate reports the first problem with c, wrapping ErrInvalidConfig, or
// nil.
func (c Config) Validate() error {
	switch {
	case c.Store == "":
		return fmt.Errorf("%w: no store name", ErrInvalidConfig)
	case c.Sink == nil:
		return fmt.Errorf("%w: store %s: no sink", ErrInvalidConfig, c.Store)
	case c.RetryMax < 1:
		return fmt.Errorf("%w: store %s: retry max %d, need at least 1", ErrInvalidConfig, c.Store, c.RetryMax)
	case c.RetryDelay <= 0:
		return fmt.Errorf("%w: store %s: retry delay %s, need more than 0", ErrInvalidConfig, c.Store, c.RetryDelay)
	case c.DeadLetters == nil:
		return fmt.Errorf("%w: store %s: no dead-letter", ErrInvalidConfig, c.Store)
	}
	return nil
}

// Result says what one flush did.
type Result struct {
	Batches      int // batches the sink accepted
	Keys         int // keys in them
	DeadLettered int // batches sent to the dead-letter
}

// Add adds what another flush did to r.
func (r *Result) Add(o Result) {
	r.Batches += o.Batches
	r.Keys += o.Keys
	r.DeadLettered += o.DeadLettered
}

// Stats counts what a pipeline did since New.
type Stats struct {
	Flushes      int64     // batches the sink accepted, replays included
	Failures     int64     // failed attempts
	DeadLettered int64     // batches sent to the dead-letter
	Overlaps     int64     // batches another delivery had partly applied, rebuilt op by op
	LastFlush    time.Time // when the sink last accepted a batch (not a replay); zero if never
}
