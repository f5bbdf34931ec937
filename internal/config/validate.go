package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/hoard-dev/hoard/node"
)

// Validate checks the configuration's values and the references between
// them, as Parse does after decoding a file, and fills in Node.DataDir with
// DefaultDataDir(Node.Name) when it is empty. Use it after changing fields,
// such as for command-line overrides: an Agent from Default with a valid
// Node.Name set passes. It checks the Node fields the file sets (see
// Agent), not the others; node.Start validates those.
//
// Problems in sinks and stores read from a file are reported at their
// blocks; problems in top-level fields carry no position, only the file's
// attribute name (such as "rpc_addr"). The error is an *Error matching
// ErrInvalid.
func (a *Agent) Validate() error {
	v := &validator{}
	v.agent(a)
	return errorOf(v.diags)
}

var (
	nameRE  = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	tableRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$`)
	tokenRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// validator checks an Agent's values. Positions come from the decoder when
// it checks a parsed file, from the Range fields of sinks, stores and
// loaders otherwise.
type validator struct {
	diags hcl.Diagnostics
	pos   map[string]hcl.Range // decoder.pos, or nil
	bad   map[string]bool      // decoder.bad, or nil
	top   hcl.Range            // where top-level attributes are missing from, or zero
}

// check is the field being checked: its message label and position.
type check struct {
	v        *validator
	scope    string
	label    string
	fallback hcl.Range // the enclosing block, or zero
}

func (v *validator) at(scope, label string, fallback hcl.Range) check {
	return check{v: v, scope: scope, label: label, fallback: fallback}
}

// skip reports whether field failed to decode and was reported already.
func (c check) skip(field string) bool { return c.v.bad[posKey(c.scope, field)] }

// rangeOf returns the position of the first of fields recorded, or the
// fallback, or nil.
func (c check) rangeOf(fields ...string) *hcl.Range {
	for _, f := range fields {
		if r, ok := c.v.pos[posKey(c.scope, f)]; ok {
			return &r
		}
	}
	if c.fallback.Filename != "" {
		r := c.fallback
		return &r
	}
	return nil
}

// errorf reports a problem with field, positioned at the first of posFields
// recorded (field when there are none).
func (c check) errorf(field string, posFields []string, format string, args ...any) {
	if len(posFields) == 0 {
		posFields = []string{field}
	}
	msg := field + ": " + fmt.Sprintf(format, args...)
	if c.label != "" {
		msg = c.label + ": " + msg
	}
	c.v.diags = c.v.diags.Append(&hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  msg,
		Subject:  c.rangeOf(posFields...),
	})
}

func (c check) fail(field, format string, args ...any) { c.errorf(field, nil, format, args...) }

func (c check) name(field, value string) {
	if c.skip(field) {
		return
	}
	if err := checkName(value); err != nil {
		c.fail(field, "%v", err)
	}
}

func (c check) nonNegative(field string, n int64) {
	if n < 0 && !c.skip(field) {
		c.fail(field, "must not be negative, got %d", n)
	}
}

func (c check) duration(field string, d time.Duration) {
	if d < 0 && !c.skip(field) {
		c.fail(field, "must not be negative, got %s", d)
	}
}

func (c check) required(field, value, what string) bool {
	if value == "" && !c.skip(field) {
		c.fail(field, "required for %s", what)
		return false
	}
	return value != ""
}

func (v *validator) agent(a *Agent) {
	c := v.at("", "", v.top)
	n := &a.Node
	nameOK := false
	switch {
	case c.skip("name"):
	case n.Name == "":
		c.fail("name", "required")
	default:
		c.name("name", n.Name)
		nameOK = checkName(n.Name) == nil
	}
	if !c.skip("cluster") {
		if n.Cluster == "" {
			c.fail("cluster", "must not be empty")
		} else {
			c.name("cluster", n.Cluster)
		}
	}
	c.addr("bind_addr", n.BindAddr, false)
	if n.AdvertiseAddr != "" {
		c.addr("advertise_addr", n.AdvertiseAddr, true)
	}
	c.addr("rpc_addr", n.RPCAddr, false)
	if n.HTTPAddr != "" {
		c.addr("http_addr", n.HTTPAddr, false)
	}
	if n.RESPAddr != "" {
		c.addr("resp_addr", n.RESPAddr, false)
	}
	if len(n.RESPSeparator) > 8 || strings.ContainsAny(n.RESPSeparator, " \t\r\n") {
		c.fail("resp_separator", "%q: want a short separator without spaces, such as \":\" or \"/\"", n.RESPSeparator)
	}
	if !c.skip("join") {
		for i, j := range n.Join {
			if err := checkAddr(j, true); err != nil {
				c.errorf("join", []string{fmt.Sprintf("join.%d", i), "join"}, "%v", err)
			}
		}
	}
	if n.DataDir == "" && nameOK {
		n.DataDir = DefaultDataDir(n.Name)
	}
	if !c.skip("log_level") && !slices.Contains(LogLevels, a.LogLevel) {
		c.fail("log_level", "invalid level %q, want one of %s", a.LogLevel, strings.Join(LogLevels, ", "))
	}
	if !c.skip("max_value_bytes") && (n.MaxValueBytes < 1 || n.MaxValueBytes > 8<<20) {
		c.fail("max_value_bytes", "must be from 1 byte to 8MiB, got %d", n.MaxValueBytes)
	}
	if !c.skip("partitions") && n.Ring.Partitions < 1 {
		c.fail("partitions", "must be at least 1, got %d", n.Ring.Partitions)
	}
	v.security(n)

	sinks := make(map[string]*Sink, len(a.Sinks))
	for i := range a.Sinks {
		s := &a.Sinks[i]
		v.sink(fmt.Sprintf("sink.%d", i), s)
		if first, dup := sinks[s.Name]; dup {
			v.at(fmt.Sprintf("sink.%d", i), sinkLabel(s), s.Range).
				fail("name", "duplicate sink name %q%s", s.Name, firstAt(first.Range))
		} else {
			sinks[s.Name] = s
		}
	}
	stores := make(map[string]*Store, len(a.Stores))
	for i := range a.Stores {
		s := &a.Stores[i]
		scope := fmt.Sprintf("store.%d", i)
		v.store(scope, s, sinks)
		if first, dup := stores[s.Config.Name]; dup {
			v.at(scope, storeLabel(s), s.Range).
				fail("name", "duplicate store name %q%s", s.Config.Name, firstAt(first.Range))
		} else {
			stores[s.Config.Name] = s
		}
	}
}

// firstAt describes where a duplicated name was first declared, if known.
func firstAt(r hcl.Range) string {
	if r.Filename == "" {
		return ""
	}
	return ", first declared at " + rangeStart(r)
}

func (c check) addr(field, addr string, dial bool) {
	if c.skip(field) {
		return
	}
	if err := checkAddr(addr, dial); err != nil {
		c.fail(field, "%v", err)
	}
}

func (v *validator) sink(scope string, s *Sink) {
	c := v.at(scope, sinkLabel(s), s.Range)
	c.name("name", s.Name)
	c.duration("timeout", s.Timeout)
	switch s.Type {
	case SinkFile:
		c.required("path", s.Path, "a file sink")
	case SinkStdout:
	case SinkHTTP:
		if c.required("url", s.URL, "an http sink") && !c.skip("url") {
			if err := checkURL(s.URL); err != nil {
				c.fail("url", "%v", err)
			}
		}
		if !c.skip("headers") {
			for _, k := range slices.Sorted(maps.Keys(s.Headers)) {
				val := s.Headers[k]
				if !tokenRE.MatchString(k) {
					c.fail("headers", "invalid header name %q", k)
				}
				if strings.ContainsAny(val, "\r\n\x00") {
					c.fail("headers", "value of header %q contains a line break or NUL", k)
				}
			}
		}
	case SinkPostgres:
		c.required("dsn", s.DSN, "a postgres sink")
		c.table("counters_table", s.CountersTable)
		c.table("values_table", s.ValuesTable)
		c.statement("counters_statement", s.CountersStatement)
		c.statement("values_statement", s.ValuesStatement)
	default:
		c.fail("type", "unknown sink type %q, want %s, %s, %s or %s",
			s.Type, SinkFile, SinkStdout, SinkHTTP, SinkPostgres)
	}
}

// statement refuses a statement of white space only ("" is none).
func (c check) statement(field, stmt string) {
	if !c.skip(field) && stmt != "" && strings.TrimSpace(stmt) == "" {
		c.fail(field, "must not be blank")
	}
}

func (c check) table(field, name string) {
	if !c.skip(field) && !tableRE.MatchString(name) {
		c.fail(field, "invalid table name %q, want an SQL identifier, optionally schema-qualified", name)
	}
}

func (v *validator) store(scope string, s *Store, sinks map[string]*Sink) {
	c := v.at(scope, storeLabel(s), s.Range)
	cfg := &s.Config
	switch cfg.Kind {
	case node.KindCounter, node.KindBuffer, node.KindCache:
	default:
		c.fail("kind", "unknown store kind %q, want %s, %s or %s", cfg.Kind, node.KindCounter, node.KindBuffer, node.KindCache)
		return
	}
	c.name("name", cfg.Name)

	if !c.skip("sink") {
		switch {
		case cfg.Kind == node.KindCache && s.Sink != "":
			c.fail("sink", "cache stores take no sink")
		case s.Sink == "" && cfg.Kind != node.KindCache:
			c.fail("sink", "required for a %s store", cfg.Kind)
		case s.Sink != "" && sinks[s.Sink] == nil:
			c.fail("sink", "no sink named %q%s", s.Sink, known(sinks))
		}
	}

	// What the node refuses. Negative Jitter, FlushTimeout and MaxBytes
	// mean none to it; the decoder refuses them written as numbers.
	c.duration("interval", cfg.Interval)
	for _, f := range []struct {
		field string
		d     time.Duration
	}{{"interval", cfg.Interval}, {"refresh_interval", cfg.RefreshInterval}, {"dump_interval", cfg.DumpInterval}} {
		if f.d > 0 && f.d < node.MinInterval && !c.skip(f.field) {
			c.fail(f.field, "%s is below the floor of %s: each round walks every partition, so a shorter period burns a core on rounds with nothing to do", f.d, node.MinInterval)
		}
	}
	c.duration("retry_delay", cfg.RetryDelay)
	c.duration("refresh_interval", cfg.RefreshInterval)
	c.duration("ttl", cfg.TTL)
	c.duration("dump_interval", cfg.DumpInterval)
	c.nonNegative("retry_max", int64(cfg.RetryMax))
	c.nonNegative("max_size", int64(cfg.MaxSize))
	c.nonNegative("max_entries", int64(cfg.MaxEntries))
	if cfg.Jitter > cfg.Interval && cfg.Interval > 0 && !c.skip("jitter") && !c.skip("interval") {
		c.errorf("jitter", []string{"jitter", "interval"}, "%s must not exceed interval %s", cfg.Jitter, cfg.Interval)
	}

	if s.Loader == nil {
		return
	}
	if cfg.Kind != node.KindCache {
		v.at(scope+".loader", storeLabel(s), s.Loader.Range).fail("loader", "only cache stores have a loader")
		return
	}
	v.loader(scope+".loader", storeLabel(s), s)
}

func (v *validator) loader(scope, storeLabel string, s *Store) {
	l := s.Loader
	fallback := l.Range
	if fallback.Filename == "" {
		fallback = s.Range
	}
	c := v.at(scope, loaderLabel(storeLabel, l), fallback)
	c.duration("timeout", s.Config.LoadTimeout)
	switch l.Type {
	case LoaderHTTP:
		if c.required("url", l.URL, "an http loader") && !c.skip("url") {
			if !strings.Contains(l.URL, "{key}") {
				c.fail("url", "%q does not contain {key}, where the key goes", l.URL)
			} else if err := checkURL(strings.ReplaceAll(l.URL, "{key}", "key")); err != nil {
				c.fail("url", "%v", err)
			}
		}
		if l.InitURL != "" && !c.skip("init_url") {
			if strings.Contains(l.InitURL, "{key}") {
				c.fail("init_url", "%q contains {key}: one GET returns every entry", l.InitURL)
			} else if err := checkURL(l.InitURL); err != nil {
				c.fail("init_url", "%v", err)
			}
		}
	case LoaderPostgres:
		c.required("dsn", l.DSN, "a postgres loader")
		c.required("query", l.Query, "a postgres loader")
		c.statement("init_query", l.InitQuery)
	default:
		c.fail("type", "unknown loader type %q, want %s or %s", l.Type, LoaderHTTP, LoaderPostgres)
	}
}

// known lists the names in sinks for a "no such sink" message.
func known(sinks map[string]*Sink) string {
	if len(sinks) == 0 {
		return " (no sinks are declared)"
	}
	names := make([]string, 0, len(sinks))
	for n := range sinks {
		names = append(names, strconv.Quote(n))
	}
	slices.Sort(names)
	return " (declared: " + strings.Join(names, ", ") + ")"
}

// checkName checks a node, cluster, store or sink name.
func checkName(name string) error {
	if !nameRE.MatchString(name) || name == "." || name == ".." {
		return fmt.Errorf("invalid name %q, want 1 to 64 letters, digits, '_', '.' or '-'", name)
	}
	return nil
}

// checkAddr checks a host:port address with a numeric port. An address to
// dial needs a host and a non-zero port; one to listen on may have an empty
// host (every interface) and port 0 (any free port).
func checkAddr(addr string, dial bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return fmt.Errorf("invalid address %q: %s, want host:port", addr, ae.Err)
		}
		return fmt.Errorf("invalid address %q, want host:port", addr)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return fmt.Errorf("invalid address %q: port %q is not a number from 0 to 65535", addr, port)
	}
	if dial && host == "" {
		return fmt.Errorf("invalid address %q: missing host", addr)
	}
	if dial && n == 0 {
		return fmt.Errorf("invalid address %q: port 0 cannot be dialled", addr)
	}
	return nil
}

// checkURL checks an absolute http or https URL.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid URL %q: %v", raw, errors.Unwrap(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("invalid URL %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("invalid URL %q: missing host", raw)
	}
	return nil
}
