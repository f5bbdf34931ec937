package node

import (
	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/flush"
)

// The node's errors. They are the same values as the client's errors of
// the same meaning (package client), so errors.Is works across both.
var (
	// ErrShutdown is returned by calls on a node that has left or shut down.
	ErrShutdown = errs.ErrShutdown

	// ErrInvalidKey is returned for an empty key, a key over MaxKeyBytes or
	// one that is not valid UTF-8.
	ErrInvalidKey = errs.ErrInvalidKey

	// ErrNoRing is returned when the node has no ring to place a key with:
	// it is leaving and knows no other live member.
	ErrNoRing = errs.ErrNoRing

	// ErrNotOwner is returned by a node asked to apply an op for a partition
	// it does not own in its current ring. Nothing was applied. Nodes retry
	// such ops themselves on their newer ring; callers see it only when the
	// rings did not agree before their deadline.
	ErrNotOwner = errs.ErrNotOwner

	// ErrUnavailable is returned when the key's owner could not be reached
	// before the deadline. Nothing was applied.
	ErrUnavailable = errs.ErrUnavailable

	// ErrIndeterminate is returned when the connection to the owner broke
	// after the op was sent: it may or may not have been applied. Retrying
	// an increment may count it twice.
	ErrIndeterminate = errs.ErrIndeterminate

	// ErrInvalidValue is returned for an insert of no values, of a value over
	// Config.MaxValueBytes, or of more than 8 MiB in one call.
	ErrInvalidValue = errs.ErrInvalidValue

	// ErrUnknownStore is returned for a store the node does not declare.
	ErrUnknownStore = errs.ErrUnknownStore

	// ErrWrongKind is returned for an op that does not fit the store's kind,
	// such as Incr on a buffer.
	ErrWrongKind = errs.ErrWrongKind

	// ErrOverflow is returned when an increment would take a key's unflushed
	// count beyond the int64 range. Nothing is applied: counts never wrap.
	ErrOverflow = errs.ErrOverflow

	// ErrOverloaded is returned by Insert when the store already holds its
	// max_bytes on this node, its sink not keeping up: nothing was applied,
	// and the caller should back off and retry.
	ErrOverloaded = errs.ErrOverloaded

	// ErrLoadFailed is returned by Fetch when the store's loader failed. The
	// failure is logged on the owner and not cached: the next miss loads
	// again.
	ErrLoadFailed = errs.ErrLoadFailed

	// ErrDeadLettered is returned by Flush, Leave and Shutdown when a batch
	// failed every attempt and went to the dead-letter: it is on disk, to be
	// replayed, not lost.
	ErrDeadLettered = flush.ErrDeadLettered
)
