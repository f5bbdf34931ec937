package node

import (
	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/flush"
)

// The node's errors, matched with errors.Is: the same values as the
// client's of the same meaning; package internal/errs says more of each.
var (
	// ErrShutdown: the node has left, is leaving or has shut down.
	ErrShutdown = errs.ErrShutdown
	// ErrInvalidKey: an empty key, one over MaxKeyBytes, or not UTF-8.
	ErrInvalidKey = errs.ErrInvalidKey
	// ErrNoRing: the node is leaving and knows no other live member.
	ErrNoRing = errs.ErrNoRing
	// ErrNotOwner: the node does not own the key's partition (nothing was
	// applied); callers see it only when rings disagreed past the deadline.
	ErrNotOwner = errs.ErrNotOwner
	// ErrUnavailable: the owner could not be reached in time (not applied).
	ErrUnavailable = errs.ErrUnavailable
	// ErrIndeterminate: the op may have been applied (the connection broke
	// after it was sent): retrying an increment may count it twice.
	ErrIndeterminate = errs.ErrIndeterminate
	// ErrInvalidValue: an insert of no values, of a value over
	// Config.MaxValueBytes, or of more than 8 MiB in one call.
	ErrInvalidValue = errs.ErrInvalidValue
	// ErrUnknownStore: the store is not declared.
	ErrUnknownStore = errs.ErrUnknownStore
	// ErrWrongKind: the op does not fit the store's kind (Incr on a buffer).
	ErrWrongKind = errs.ErrWrongKind
	// ErrOverflow: the key's unflushed count would leave int64 (not applied).
	ErrOverflow = errs.ErrOverflow
	// ErrOverloaded: the buffer store is at max_bytes (not applied): back off.
	ErrOverloaded = errs.ErrOverloaded
	// ErrLoadFailed: the cache's loader failed at the owner (never cached).
	ErrLoadFailed = errs.ErrLoadFailed
	// ErrForbidden: the caller's token does not allow the call, or the
	// method is for peers only (nothing was done).
	ErrForbidden = errs.ErrForbidden
	// ErrDeadLettered: a batch went to the dead-letter, to be replayed.
	ErrDeadLettered = flush.ErrDeadLettered
)
