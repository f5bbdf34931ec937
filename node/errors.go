package node

import (
	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/flush"
)

// The node's errors, matched with errors.Is. They are the same values as
// the client's errors of the same meaning (package client), so a test holds
// across both; package internal/errs says more of each.
var (
	// ErrShutdown: the node has left, is leaving or has shut down.
	ErrShutdown = errs.ErrShutdown
	// ErrInvalidKey: an empty key, one over MaxKeyBytes, or not UTF-8.
	ErrInvalidKey = errs.ErrInvalidKey
	// ErrNoRing: the node is leaving and knows no other live member.
	ErrNoRing = errs.ErrNoRing
	// ErrNotOwner: the node does not own the key's partition in its ring;
	// nothing was applied. Callers see it only when the rings did not agree
	// before their deadline: nodes route such ops again themselves.
	ErrNotOwner = errs.ErrNotOwner
	// ErrUnavailable: the owner could not be reached in time; nothing was
	// applied.
	ErrUnavailable = errs.ErrUnavailable
	// ErrIndeterminate: the connection to the owner broke after the op was
	// sent; it may have been applied (retrying an increment may count it
	// twice).
	ErrIndeterminate = errs.ErrIndeterminate
	// ErrInvalidValue: an insert of no values, of a value over
	// Config.MaxValueBytes, or of more than 8 MiB in one call.
	ErrInvalidValue = errs.ErrInvalidValue
	// ErrUnknownStore: the store is not declared.
	ErrUnknownStore = errs.ErrUnknownStore
	// ErrWrongKind: the op does not fit the store's kind (Incr on a buffer).
	ErrWrongKind = errs.ErrWrongKind
	// ErrOverflow: the increment would take the key's unflushed count
	// beyond the int64 range; nothing was applied.
	ErrOverflow = errs.ErrOverflow
	// ErrOverloaded: the owner holds the buffer store's max_bytes, its sink
	// not keeping up; nothing was applied: back off and retry.
	ErrOverloaded = errs.ErrOverloaded
	// ErrLoadFailed: the cache's loader failed at the owner; logged there,
	// never cached.
	ErrLoadFailed = errs.ErrLoadFailed
	// ErrDeadLettered: a batch failed every attempt and went to the
	// dead-letter: on disk, to be replayed, not lost.
	ErrDeadLettered = flush.ErrDeadLettered
)
