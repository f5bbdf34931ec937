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

	"github.com/hoard-dev/hoard/node"
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

// statement decodes an SQL statement, which must not be blank (left out,
// the sink writes instead).
func (b *attrSet) statement(name string, dst *string, instead string) bool {
	return b.nonBlank(name, dst, "to write "+instead)
}

// nonBlank decodes a string that must not be blank when given: left out,
// the setting is off (instead says what happens then).
func (b *attrSet) nonBlank(name string, dst *string, instead string) bool {
	if !b.str(name, dst) {
		return false
	}
	if strings.TrimSpace(*dst) == "" {
		b.fail(name, "must not be empty; leave it out %s", instead)
		return false
	}
	return true
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
	return b.integerOf(name, val, dst)
}

func (b *attrSet) integerOf(name string, val cty.Value, dst *int) bool {
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
	val, ok := b.value(name)
	if !ok {
		return false
	}
	return b.durationOf(name, val, dst)
}

func (b *attrSet) durationOf(name string, val cty.Value, dst *time.Duration) bool {
	if val.Type() != cty.String {
		b.fail(name, `want a duration such as "5s", got %s`, val.Type().FriendlyName())
		return false
	}
	s := val.AsString()
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
func (b *attrSet) size(name string, dst *int) bool {
	val, ok := b.value(name)
	if !ok {
		return false
	}
	var n int64
	if !b.sizeOf(name, val, &n) {
		return false
	}
	if int64(int(n)) != n {
		b.fail(name, "size %d is too large", n) // on 32-bit platforms
		return false
	}
	*dst = int(n)
	return true
}

func (b *attrSet) sizeOf(name string, val cty.Value, dst *int64) bool {
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

// setting describes how the file writes a field of node.StoreConfig. An
// attribute left out keeps the field's default; a value written means what
// the field means to the node, except for a zero or a negative number
// where the field takes it for its default or for none: the file spells
// none "none" and refuses a zero that would silently mean the default.
type setting struct {
	// name is the attribute's name.
	name string
	// def renders the default for messages; "" when there is none.
	def string
	// none says what "none" means ("no limit"); "" when the setting cannot
	// be turned off.
	none string
	// zeroIsNone is set when a zero field means none to the node (MaxSize,
	// TTL, ...); then 0 is accepted and "none" stores 0. Otherwise a zero
	// field means the default, and "none" stores -1, the node's none.
	zeroIsNone bool
	// zero replaces "must be positive" in the message refusing a zero.
	zero string
}

// isNone reports whether val is the string None and s can be turned off.
func (s setting) isNone(val cty.Value) bool {
	return s.none != "" && val.Type() == cty.String && strings.TrimSpace(val.AsString()) == None
}

// noneValue is the field's value for "none".
func (s setting) noneValue() int64 {
	if s.zeroIsNone {
		return 0
	}
	return -1
}

// check reports a zero the file may not write and a negative number where
// the node would take it for none; other negative numbers are left to the
// validator, which refuses them for files and built Agents alike.
func (b *attrSet) check(s setting, n int64, shown string) bool {
	switch {
	case n == 0 && !s.zeroIsNone:
		msg := s.zero
		if msg == "" {
			msg = "must be positive"
		}
		b.fail(s.name, "%s; %s", msg, s.hint())
		return false
	case n < 0 && s.none != "" && !s.zeroIsNone:
		b.fail(s.name, "must not be negative, got %s; write %q for %s", shown, None, s.none)
		return false
	}
	return true
}

// hint says how to get the default, and none if there is one.
func (s setting) hint() string {
	if s.none == "" {
		return fmt.Sprintf("leave it out for the default %s", s.def)
	}
	return fmt.Sprintf("write %q for %s, or leave it out for the default %s", None, s.none, s.def)
}

// storeDuration decodes a duration setting.
func (b *attrSet) storeDuration(s setting, dst *time.Duration) bool {
	val, ok := b.value(s.name)
	if !ok {
		return false
	}
	if s.isNone(val) {
		*dst = time.Duration(s.noneValue())
		return true
	}
	var d time.Duration
	if !b.durationOf(s.name, val, &d) || !b.check(s, int64(d), d.String()) {
		return false
	}
	*dst = d
	return true
}

// storeInt decodes a whole-number setting.
func (b *attrSet) storeInt(s setting, dst *int) bool {
	val, ok := b.value(s.name)
	if !ok {
		return false
	}
	if s.isNone(val) {
		*dst = int(s.noneValue())
		return true
	}
	var n int
	if !b.integerOf(s.name, val, &n) || !b.check(s, int64(n), strconv.Itoa(n)) {
		return false
	}
	*dst = n
	return true
}

// storeSize decodes a size setting.
func (b *attrSet) storeSize(s setting, dst *int64) bool {
	val, ok := b.value(s.name)
	if !ok {
		return false
	}
	if s.isNone(val) {
		*dst = s.noneValue()
		return true
	}
	var n int64
	if !b.sizeOf(s.name, val, &n) || !b.check(s, n, strconv.FormatInt(n, 10)) {
		return false
	}
	*dst = n
	return true
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

// formatSize renders n bytes for a message, in the largest binary unit that
// divides it: "64MiB", "1000B".
func formatSize(n int64) string {
	for _, u := range []struct {
		name string
		mult int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
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

// walSync decodes wal_fsync: "always" (node.WALSyncAlways: fsync before
// each acknowledgement) or a positive duration between fsyncs.
func (b *attrSet) walSync(name string, dst *time.Duration) bool {
	s, ok := b.stringValue(name, `"always" or a duration such as "100ms"`)
	if !ok {
		return false
	}
	if s == "always" {
		*dst = node.WALSyncAlways
		return true
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		b.fail(name, `want "always" or a positive duration such as "100ms", got %q`, s)
		return false
	}
	*dst = d
	return true
}

// ack decodes a store's ack level: "memory", "wal" or "replicated".
func (b *attrSet) ack(name string, dst *node.Ack) bool {
	s, ok := b.stringValue(name, `"memory", "wal" or "replicated"`)
	if !ok {
		return false
	}
	if a := node.Ack(s); a != node.AckMemory && a != node.AckWAL && a != node.AckReplicated {
		b.fail(name, `want %q, %q or %q, got %q`, node.AckMemory, node.AckWAL, node.AckReplicated, s)
		return false
	}
	*dst = node.Ack(s)
	return true
}
