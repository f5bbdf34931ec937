package proto

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hoard-dev/hoard/internal/errs"
)

// CodeInternal is the code of an error that is none of the sentinels
// (transport.CodeInternal).
const CodeInternal = "internal"

// errorCodes maps each sentinel of package errs to its wire code, both
// ways: the one registry that node and client share. The first match wins.
var errorCodes = []struct {
	err  error
	code string
}{
	{errs.ErrNotOwner, CodeNotOwner},
	{errs.ErrUnknownStore, CodeUnknownStore},
	{errs.ErrWrongKind, CodeWrongKind},
	{errs.ErrOverflow, CodeOverflow},
	{errs.ErrOverloaded, CodeOverloaded},
	{errs.ErrInvalidKey, CodeInvalid},
	{errs.ErrInvalidValue, CodeInvalidValue},
	{errs.ErrShutdown, CodeShuttingDown},
	{errs.ErrNoRing, CodeNoRing},
	{errs.ErrUnavailable, CodeUnavailable},
	{errs.ErrIndeterminate, CodeIndeterminate},
	{errs.ErrLoadFailed, CodeLoadFailed},
	{errs.ErrForbidden, CodeForbidden},
}

// CodeOf is the wire code of err: the code of the first sentinel it wraps,
// CodeInternal for any other error, "" for nil.
func CodeOf(err error) string {
	if err == nil {
		return ""
	}
	for _, ec := range errorCodes {
		if errors.Is(err, ec.err) {
			return ec.code
		}
	}
	return CodeInternal
}

// ErrorOf turns a wire code and message back into an error wrapping the
// code's sentinel; nil for "", and nil with false for a code with no
// sentinel (the caller keeps the coded error as it is).
func ErrorOf(code, msg string) (error, bool) {
	if code == "" {
		return nil, true
	}
	for _, ec := range errorCodes {
		if ec.code == code {
			// The message usually starts with the sentinel's own text.
			return fmt.Errorf("%w%s", ec.err, strings.TrimPrefix(msg, ec.err.Error())), true
		}
	}
	return nil, false
}
