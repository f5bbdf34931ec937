package sinks

import (
	"errors"
	"time"
)

// ErrPermanent marks a flush error that trying again cannot fix, such as an
// HTTP 400: hoard sends the batch to the dead-letter at once instead of
// retrying. Wrap it: fmt.Errorf("%w: 400 Bad Request: %s", sinks.ErrPermanent, body).
var ErrPermanent = errors.New("sinks: permanent failure")

// ErrOverlap marks a batch a Positioner refused because another delivery
// applied some, not all, of its ranges: a backup's failover delivered the
// ops of a node that was declared failed and was not, or a node's own
// batch met a failover's. The batch's data cannot be split by sequence
// number, so nothing of it is applied; whoever holds its ops one by one
// rebuilds the part not applied (see Positioner). The error also wraps
// ErrPermanent: the same batch will be refused again.
var ErrOverlap = errors.New("sinks: ranges partly applied by another delivery")

// RetryAfterError asks hoard to wait at least After before the next
// attempt, as an HTTP 429 or 503 with a Retry-After header does.
type RetryAfterError struct {
	Err   error
	After time.Duration
}

// Error implements error.
func (e *RetryAfterError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter reports the wait a flush error asks for, if any.
func RetryAfter(err error) (time.Duration, bool) {
	var ra *RetryAfterError
	if errors.As(err, &ra) {
		return ra.After, true
	}
	return 0, false
}
