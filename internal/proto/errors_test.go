package proto

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hoard-dev/hoard/internal/errs"
)

// TestEverySentinelSurvivesTheWire sends each sentinel, wrapped as callers
// wrap it, through its code and back.
func TestEverySentinelSurvivesTheWire(t *testing.T) {
	seen := map[string]bool{}
	for _, ec := range errorCodes {
		t.Run(ec.code, func(t *testing.T) {
			if seen[ec.code] {
				t.Fatalf("code %q names two sentinels", ec.code)
			}
			seen[ec.code] = true
			sent := fmt.Errorf("%w: key %q", ec.err, "k")
			code := CodeOf(sent)
			if code != ec.code {
				t.Fatalf("CodeOf(%v) = %q, want %q", sent, code, ec.code)
			}
			got, ok := ErrorOf(code, sent.Error())
			if !ok || !errors.Is(got, ec.err) {
				t.Fatalf("ErrorOf(%q) = %v, %v; want it to wrap %v", code, got, ok, ec.err)
			}
			if got.Error() != sent.Error() {
				t.Fatalf("message %q came back as %q", sent, got)
			}
		})
	}
}

func TestErrorCodesOfOtherErrors(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"plain", errors.New("disk on fire"), CodeInternal},
		{"doubly wrapped", fmt.Errorf("a: %w", fmt.Errorf("b: %w", errs.ErrOverflow)), CodeOverflow},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := CodeOf(tc.err); got != tc.want {
				t.Fatalf("CodeOf = %q, want %q", got, tc.want)
			}
		})
	}
	if err, ok := ErrorOf("no_such_code", "x"); ok || err != nil {
		t.Fatalf("ErrorOf of an unknown code = %v, %v", err, ok)
	}
	if err, ok := ErrorOf("", ""); !ok || err != nil {
		t.Fatalf("ErrorOf(\"\") = %v, %v", err, ok)
	}
}
