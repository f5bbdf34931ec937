package config

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// attrSet decodes the attributes of one body into Go values. Each method
// leaves its destination alone when the attribute is absent or null, so
// destinations hold defaults beforehand, and reports whether it stored a
// value.
type attrSet struct {
	d     *decoder
	attrs hcl.Attributes
	scope string // posKey scope
	label string // message prefix, "" at the top level
}

func (d *decoder) attrs(attrs hcl.Attributes, scope, label string) *attrSet {
	return &attrSet{d: d, attrs: attrs, scope: scope, label: label}
}

// value evaluates the attribute name. It returns false when the attribute
// is absent, null, or its expression fails (which is reported).
func (b *attrSet) value(name string) (cty.Value, bool) {
	attr, ok := b.attrs[name]
	if !ok {
		return cty.NilVal, false
	}
	b.d.pos[posKey(b.scope, name)] = attr.Expr.Range()
	val, diags := evaluate(attr.Expr)
	if diags.HasErrors() {
		b.d.bad[posKey(b.scope, name)] = true
		b.d.diags = append(b.d.diags, prefix(diags, b.prefix(name))...)
		return cty.NilVal, false
	}
	if !val.IsWhollyKnown() {
		b.fail(name, "value must be a constant")
		return cty.NilVal, false
	}
	if val.IsNull() {
		return cty.NilVal, false
	}
	return val, true
}

// evaluate returns the value of a constant expression: no variables or
// functions are defined. cty panics on some arithmetic (such as on
// infinities); those become diagnostics.
func evaluate(expr hcl.Expression) (val cty.Value, diags hcl.Diagnostics) {
	if diags := checkLiterals(expr); diags.HasErrors() {
		return cty.NilVal, diags
	}
	defer func() {
		if r := recover(); r != nil {
			val = cty.NilVal
			diags = hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("cannot evaluate expression: %v", r),
				Subject:  expr.Range().Ptr(),
			}}
		}
	}()
	return expr.Value(nil)
}

// prefix returns the message prefix for the attribute name.
func (b *attrSet) prefix(name string) string {
	if b.label == "" {
		return name
	}
	return b.label + ": " + name
}

// fail reports a problem with the value of the attribute name, which must be
// present, and marks it bad.
func (b *attrSet) fail(name, format string, args ...any) {
	b.d.bad[posKey(b.scope, name)] = true
	b.d.diags = b.d.diags.Append(&hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  b.prefix(name) + ": " + fmt.Sprintf(format, args...),
		Subject:  b.attrs[name].Expr.Range().Ptr(),
	})
}

// stringValue evaluates the attribute name, which must be a string: numbers
// and bools are not converted, as cty converts huge numbers very slowly.
func (b *attrSet) stringValue(name, what string) (string, bool) {
	val, ok := b.value(name)
	if !ok {
		return "", false
	}
	if val.Type() != cty.String {
		b.fail(name, "want %s, got %s", what, val.Type().FriendlyName())
		return "", false
	}
	return val.AsString(), true
}

func (b *attrSet) str(name string, dst *string) bool {
	s, ok := b.stringValue(name, "a string")
	if ok {
		*dst = s
	}
	return ok
}

func (b *attrSet) boolean(name string, dst *bool) bool {
	val, ok := b.value(name)
	if !ok {
		return false
	}
	switch {
	case val.Type() == cty.Bool:
		*dst = val.True()
	case val.Type() == cty.String && (val.AsString() == "true" || val.AsString() == "false"):
		*dst = val.AsString() == "true"
	default:
		b.fail(name, "want true or false, got %s", val.Type().FriendlyName())
		return false
	}
	return true
}

func (b *attrSet) integer(name string, dst *int) bool {
	val, ok := b.value(name)
	if !ok {
		return false
	}
	n, ok := b.whole(name, val, "a whole number", math.MinInt, math.MaxInt)
	if ok {
		*dst = int(n)
	}
	return ok
}

// whole returns val, the value of the attribute name, as a whole number in
// [lo, hi]. It may be written as a number or as a string of decimal digits.
// Strings are not converted by cty, which takes very long over some (such
// as "1e99999999").
func (b *attrSet) whole(name string, val cty.Value, what string, lo, hi int64) (int64, bool) {
	switch val.Type() {
	case cty.Number:
		f := val.AsBigFloat()
		n, ok := wholeNumber(f, lo, hi)
		if !ok {
			b.fail(name, "want %s, got %s", what, formatNumber(f))
		}
		return n, ok
	case cty.String:
		s := val.AsString()
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || n < lo || n > hi {
			b.fail(name, "want %s, got %q", what, s)
			return 0, false
		}
		return n, true
	default:
		b.fail(name, "want %s, got %s", what, val.Type().FriendlyName())
		return 0, false
	}
}

// formatNumber renders f for a message, quickly whatever its exponent.
func formatNumber(f *big.Float) string {
	if outOfRange(f) {
		return "a number out of range"
	}
	return f.Text('g', 10)
}

// wholeNumber returns f as an int64 if it is a whole number in [lo, hi].
func wholeNumber(f *big.Float, lo, hi int64) (int64, bool) {
	if f.IsInf() || !f.IsInt() {
		return 0, false
	}
	n, acc := f.Int64()
	if acc != big.Exact || n < lo || n > hi {
		return 0, false
	}
	return n, true
}

func (b *attrSet) duration(name string, dst *time.Duration) bool {
	s, ok := b.stringValue(name, `a duration such as "5s"`)
	if !ok {
		return false
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		b.fail(name, `invalid duration %q, want Go syntax such as "5s" or "1m30s"`, s)
		return false
	}
	*dst = dur
	return true
}

// size decodes a byte count written as a number or as a string with a unit
// (see parseSize).
func (b *attrSet) size(name string, dst *int64) bool {
	val, ok := b.value(name)
	if !ok {
		return false
	}
	switch val.Type() {
	case cty.String:
		n, err := parseSize(val.AsString())
		if err != nil {
			b.fail(name, "%v", err)
			return false
		}
		*dst = n
		return true
	case cty.Number:
		n, ok := b.whole(name, val, "a whole number of bytes", math.MinInt64, math.MaxInt64)
		if ok {
			*dst = n
		}
		return ok
	default:
		b.fail(name, `want a byte count or a size such as "64MiB", got %s`, val.Type().FriendlyName())
		return false
	}
}

func (b *attrSet) strList(name string, dst *[]string) bool {
	val, ok := b.value(name)
	if !ok {
		return false
	}
	ty := val.Type()
	if !ty.IsTupleType() && !ty.IsListType() && !ty.IsSetType() {
		b.fail(name, "want a list of strings, got %s", ty.FriendlyName())
		return false
	}
	list := make([]string, 0, val.LengthInt())
	elems, _ := hcl.ExprList(b.attrs[name].Expr)
	for it := val.ElementIterator(); it.Next(); {
		_, v := it.Element()
		switch {
		case v.IsNull():
			b.fail(name, "element %d is null", len(list))
			return false
		case v.Type() != cty.String:
			b.fail(name, "want a list of strings, element %d is a %s", len(list), v.Type().FriendlyName())
			return false
		}
		if len(elems) == val.LengthInt() {
			b.d.pos[posKey(b.scope, fmt.Sprintf("%s.%d", name, len(list)))] = elems[len(list)].Range()
		}
		list = append(list, v.AsString())
	}
	*dst = list
	return true
}

func (b *attrSet) strMap(name string, dst *map[string]string) bool {
	val, ok := b.value(name)
	if !ok {
		return false
	}
	ty := val.Type()
	if !ty.IsObjectType() && !ty.IsMapType() {
		b.fail(name, "want a map of strings, got %s", ty.FriendlyName())
		return false
	}
	m := make(map[string]string, val.LengthInt())
	for it := val.ElementIterator(); it.Next(); {
		k, v := it.Element()
		switch {
		case v.IsNull():
			b.fail(name, "value of %q is null", k.AsString())
			return false
		case v.Type() != cty.String:
			b.fail(name, "want a map of strings, value of %q is a %s", k.AsString(), v.Type().FriendlyName())
			return false
		}
		m[k.AsString()] = v.AsString()
	}
	*dst = m
	return true
}

// sizeUnits maps the lower-cased units parseSize accepts to bytes.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// parseSize parses a byte count such as "512", "64MiB" or "1 GB": a whole
// number and an optional unit, B, kB, MB, GB, TB (powers of 1000) or KiB,
// MiB, GiB, TiB (powers of 1024), in any case.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	mult, ok := sizeUnits[strings.ToLower(strings.TrimSpace(t[i:]))]
	if i == 0 || !ok {
		return 0, fmt.Errorf(`invalid size %q, want a byte count or a number with a unit such as "64MiB" or "500MB"`, s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
}

// maxExponent bounds the binary exponent of number literals, about the
// range of a float64. cty takes time growing faster than the exponent to
// turn a number into a string, which templates such as "${1e9999999}" do:
// seconds for 1e1000000.
const maxExponent = 1024

// checkLiterals rejects number literals out of range in a native syntax
// expression. JSON expressions need no check: their numbers are never
// turned into strings when evaluated without a context.
func checkLiterals(expr hcl.Expression) hcl.Diagnostics {
	node, ok := expr.(hclsyntax.Node)
	if !ok {
		return nil
	}
	return hclsyntax.VisitAll(node, func(n hclsyntax.Node) hcl.Diagnostics {
		lit, ok := n.(*hclsyntax.LiteralValueExpr)
		if !ok || lit.Val.Type() != cty.Number || lit.Val.IsNull() {
			return nil
		}
		if outOfRange(lit.Val.AsBigFloat()) {
			return hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "number out of range",
				Subject:  lit.SrcRange.Ptr(),
			}}
		}
		return nil
	})
}

// outOfRange reports whether f is finite with a binary exponent beyond
// ±maxExponent.
func outOfRange(f *big.Float) bool {
	if f.IsInf() {
		return false
	}
	e := f.MantExp(nil)
	return e > maxExponent || e < -maxExponent
}
