package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// ErrInvalid is matched (with errors.Is) by every error Parse, Load and
// Validate return for a configuration that is malformed or breaks a rule.
var ErrInvalid = errors.New("config: invalid configuration")

// Error lists every problem found in a configuration. Its message has one
// line per problem, each of the form
//
//	hoard.hcl:12,14: counter "pageviews": interval: invalid duration "5 seconds"
//
// where the position is left out for problems Validate finds in values that
// did not come from a file.
type Error struct {
	// Diagnostics holds the problems, errors and warnings, in the order
	// they were found.
	Diagnostics hcl.Diagnostics
}

// Error returns the error diagnostics, one per line.
func (e *Error) Error() string {
	var b strings.Builder
	for _, d := range e.Diagnostics {
		if d.Severity != hcl.DiagError {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(formatDiagnostic(d))
	}
	if b.Len() == 0 {
		return ErrInvalid.Error()
	}
	return b.String()
}

// Is reports whether target is ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// formatDiagnostic renders d as "file:line,col: summary; detail".
func formatDiagnostic(d *hcl.Diagnostic) string {
	msg := d.Summary
	if d.Detail != "" {
		msg += "; " + d.Detail
	}
	if d.Subject == nil || d.Subject.Filename == "" {
		return msg
	}
	s := d.Subject.Start
	return fmt.Sprintf("%s:%d,%d: %s", d.Subject.Filename, s.Line, s.Column, msg)
}

// errorOf returns diags as an *Error when they hold an error, nil otherwise.
func errorOf(diags hcl.Diagnostics) error {
	if !diags.HasErrors() {
		return nil
	}
	return &Error{Diagnostics: diags}
}
