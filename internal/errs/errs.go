// Package errs holds hoard's error vocabulary: the sentinel errors an op
// can end in, whichever package notices them (a store kind's state, the
// node's routing, the client). node and client export these same values
// under their own names, so errors.Is works across them; internal/proto
// maps each to its wire code.
//
//	if errors.Is(err, errs.ErrOverflow) { ... }
package errs

import "errors"

var (
	// ErrNotOwner: the node asked does not own the key's partition in its
	// current ring. Nothing was applied.
	ErrNotOwner = errors.New("hoard: not the owner")

	// ErrUnknownStore: the store is not declared.
	ErrUnknownStore = errors.New("hoard: unknown store")

	// ErrWrongKind: the op does not fit the store's kind (Incr on a buffer).
	ErrWrongKind = errors.New("hoard: wrong store kind")

	// ErrOverflow: an increment would take a key's unflushed count beyond
	// the int64 range. Nothing was applied: counts never wrap.
	ErrOverflow = errors.New("hoard: counter overflow")

	// ErrOverloaded: a buffer store already holds its max_bytes on the
	// owner, its sink not keeping up. Nothing was applied: back off, retry.
	ErrOverloaded = errors.New("hoard: overloaded")

	// ErrInvalidKey: an empty key, a key over the size limit or one that is
	// not valid UTF-8; also any other malformed request.
	ErrInvalidKey = errors.New("hoard: invalid key")

	// ErrInvalidValue: an insert of no values, a value over the limit, or
	// too much in one call.
	ErrInvalidValue = errors.New("hoard: invalid value")

	// ErrShutdown: the node has left, is leaving or is shutting down.
	ErrShutdown = errors.New("hoard: shut down")

	// ErrNoRing: the node has no ring to place the key with.
	ErrNoRing = errors.New("hoard: no ring")

	// ErrUnavailable: the key's owner could not be reached before the
	// deadline. Nothing was applied.
	ErrUnavailable = errors.New("hoard: owner unavailable")

	// ErrIndeterminate: the connection to the owner broke after the op was
	// sent: it may or may not have been applied.
	ErrIndeterminate = errors.New("hoard: outcome unknown")

	// ErrLoadFailed: a cache's loader failed at the key's owner. The failure
	// is not cached.
	ErrLoadFailed = errors.New("hoard: load failed")

	// ErrForbidden: the caller's token does not allow the call (a write
	// token asking for leave), or the method is for peers only. Nothing was
	// done.
	ErrForbidden = errors.New("hoard: forbidden")
)
