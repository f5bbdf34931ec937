package sinks

import (
	"errors"
	"time"
)

// ErrPermanent marks a flush error that trying again cannot fix, such as an
// HTTP 400: hoard sends the batch to the dead-letter at once instead of
// retrying. Wrap it: fmt.Errorf("%w: 400 Bad Request: %s", sinks.ErrPermanent, body).
var ErrPermanent = errors.New("sinks: permanent failure")

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
