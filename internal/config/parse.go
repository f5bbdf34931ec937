package config

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/hoard-dev/hoard/node"
)

// Load reads the configuration file at path and parses it with Parse.
//
// A file that cannot be read is reported with the *fs.PathError from
// reading it wrapped (errors.Is(err, fs.ErrNotExist) works); an invalid
// configuration as an *Error matching ErrInvalid.
func Load(path string) (*Agent, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, src)
}

// Parse parses src, the contents of the configuration file filename, fills
// in defaults and validates the result.
//
// src is HCL native syntax, or HCL's JSON syntax when filename ends in
// ".json" or src starts with '{'. filename is used to choose the syntax and
// in messages only. Unknown attributes and blocks are errors.
//
// On failure Parse returns a nil Agent and an *Error, matching ErrInvalid,
// that lists every problem found with its position.
func Parse(filename string, src []byte) (*Agent, error) {
	src = bytes.TrimPrefix(src, []byte("\ufeff"))
	p := hclparse.NewParser()
	var (
		f     *hcl.File
		diags hcl.Diagnostics
	)
	if isJSON(filename, src) {
		f, diags = p.ParseJSON(src, filename)
	} else {
		f, diags = p.ParseHCL(src, filename)
	}
	if diags.HasErrors() || f == nil {
		if !diags.HasErrors() {
			start := hcl.Range{Filename: filename, Start: hcl.InitialPos, End: hcl.InitialPos}
			diags = diags.Append(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "cannot parse the file", Subject: &start})
		}
		return nil, &Error{Diagnostics: sortDiagnostics(diags)}
	}

	d := &decoder{pos: map[string]hcl.Range{}, bad: map[string]bool{}}
	a := d.agent(f.Body)
	v := &validator{pos: d.pos, bad: d.bad, top: f.Body.MissingItemRange()}
	v.agent(a)

	diags = append(diags, d.diags...)
	diags = append(diags, v.diags...)
	if diags.HasErrors() {
		return nil, &Error{Diagnostics: sortDiagnostics(diags)}
	}
	return a, nil
}

// isJSON reports whether a file is in HCL's JSON syntax.
func isJSON(filename string, src []byte) bool {
	if strings.EqualFold(filepath.Ext(filename), ".json") {
		return true
	}
	return bytes.HasPrefix(bytes.TrimLeft(src, " \t\r\n"), []byte("{"))
}

// sortDiagnostics orders diags by file position, those without one last.
func sortDiagnostics(diags hcl.Diagnostics) hcl.Diagnostics {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		switch {
		case a == nil || b == nil:
			return a != nil && b == nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		default:
			return a.Start.Byte < b.Start.Byte
		}
	})
	return diags
}

// The schemas of the file's bodies. Every body is decoded with Content, so
// anything not listed here is reported as unsupported.
var (
	agentSchema = &hcl.BodySchema{
		Attributes: attrs("name", "cluster", "bind_addr", "advertise_addr", "rpc_addr",
			"http_addr", "resp_addr", "resp_separator", "join", "data_dir", "log_level", "partitions", "max_value_bytes", "wal_fsync",
			"encrypt", "metrics_open", "max_connections", "idle_timeout"),
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "tls"},
			{Type: "token", LabelNames: []string{"name"}},
			{Type: "sink", LabelNames: []string{"type", "name"}},
			{Type: string(node.KindCounter), LabelNames: []string{"name"}},
			{Type: string(node.KindBuffer), LabelNames: []string{"name"}},
			{Type: string(node.KindCache), LabelNames: []string{"name"}},
		},
	}

	// storeSchema holds the attributes and blocks of every store kind, so
	// that one of another kind is reported as not applying (see
	// storeKinds) rather than as unknown.
	storeSchema = &hcl.BodySchema{
		Attributes: attrs(slices.Sorted(maps.Keys(storeKinds))...),
		Blocks:     []hcl.BlockHeaderSchema{{Type: "loader", LabelNames: []string{"type"}}},
	}

	sinkSchemas = map[string]*hcl.BodySchema{
		SinkFile:   {Attributes: attrs("path")},
		SinkStdout: {},
		SinkHTTP:   {Attributes: attrs("url", "headers", "timeout")},
		SinkPostgres: {Attributes: attrs("dsn", "timeout", "create_tables", "counters_table", "values_table",
			"counters_statement", "values_statement")},
	}

	loaderSchemas = map[string]*hcl.BodySchema{
		LoaderHTTP:     {Attributes: attrs("url", "timeout", "init_url")},
		LoaderPostgres: {Attributes: attrs("dsn", "query", "timeout", "init_query")},
	}
)

var (
	flushing = []node.StoreKind{node.KindCounter, node.KindBuffer}
	buffers  = []node.StoreKind{node.KindBuffer}
	caches   = []node.StoreKind{node.KindCache}

	// storeKinds and storeBlockKinds map each attribute and block type of a
	// store block to the kinds it applies to.
	storeKinds = map[string][]node.StoreKind{
		"sink": flushing, "interval": flushing, "jitter": flushing,
		"retry_max": flushing, "retry_delay": flushing, "flush_timeout": flushing,
		"max_size": buffers, "max_bytes": buffers, "ack": flushing, "replicas": flushing,
		"refresh_interval": caches, "ttl": caches, "max_entries": caches,
		"dump": caches, "skip_save": caches,
	}
	storeBlockKinds = map[string][]node.StoreKind{"loader": caches}
)

func attrs(names ...string) []hcl.AttributeSchema {
	s := make([]hcl.AttributeSchema, len(names))
	for i, n := range names {
		s[i] = hcl.AttributeSchema{Name: n}
	}
	return s
}

// decoder turns a file's bodies into an Agent, reporting malformed values.
// It records where each attribute was written so the validator can point at
// it, and which attributes failed so the validator leaves them alone.
type decoder struct {
	diags hcl.Diagnostics
	// pos maps posKey(scope, field) to the range of the attribute's value,
	// or of the label for block names and types.
	pos map[string]hcl.Range
	// bad holds the posKeys of attributes whose value could not be decoded.
	bad map[string]bool
}

// posKey names a field of a scope ("" for the top level, "sink.N",
// "store.N" or "store.N.loader") in decoder.pos and decoder.bad.
func posKey(scope, field string) string { return scope + "/" + field }

// content decodes body against schema, prefixing label to its diagnostics.
func (d *decoder) content(body hcl.Body, schema *hcl.BodySchema, label string) *hcl.BodyContent {
	c, diags := body.Content(schema)
	d.diags = append(d.diags, prefix(diags, label)...)
	if c == nil {
		c = &hcl.BodyContent{}
	}
	return c
}

func (d *decoder) agent(body hcl.Body) *Agent {
	a := Default()
	n := &a.Node
	c := d.content(body, agentSchema, "")
	b := d.attrs(c.Attributes, "", "")
	b.str("name", &n.Name)
	b.str("cluster", &n.Cluster)
	b.str("bind_addr", &n.BindAddr)
	b.str("advertise_addr", &n.AdvertiseAddr)
	b.str("rpc_addr", &n.RPCAddr)
	b.str("http_addr", &n.HTTPAddr)
	b.str("resp_addr", &n.RESPAddr)
	b.str("resp_separator", &n.RESPSeparator)
	b.strList("join", &n.Join)
	if b.str("data_dir", &n.DataDir) && n.DataDir == "" {
		b.fail("data_dir", "must not be empty; leave it out for the default %q", DefaultDataDir("NAME"))
	}
	b.str("log_level", &a.LogLevel)
	b.integer("partitions", &n.Ring.Partitions)
	b.size("max_value_bytes", &n.MaxValueBytes)
	b.walSync("wal_fsync", &n.WALSync)
	b.encryptKey("encrypt", &n.EncryptKey)
	b.boolean("metrics_open", &n.MetricsOpen)
	b.integer("max_connections", &n.MaxConns)
	b.duration("idle_timeout", &n.IdleTimeout)

	var tlsBlock *hcl.Block
	for _, blk := range c.Blocks {
		switch blk.Type {
		case "sink":
			d.sink(&a, blk)
		case "tls":
			if tlsBlock != nil {
				d.diags = d.diags.Append(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  fmt.Sprintf("tls: only one tls block is allowed, the first is at %s", rangeStart(tlsBlock.DefRange)),
					Subject:  blk.DefRange.Ptr(),
				})
				continue
			}
			tlsBlock = blk
			d.tls(n, blk)
		case "token":
			d.token(n, blk)
		default:
			d.store(&a, blk)
		}
	}
	return &a
}

func (d *decoder) sink(a *Agent, blk *hcl.Block) {
	scope := fmt.Sprintf("sink.%d", len(a.Sinks))
	s := defaultSink(blk.Labels[0], blk.Labels[1])
	s.Range = blk.DefRange
	d.pos[posKey(scope, "type")] = blk.LabelRanges[0]
	d.pos[posKey(scope, "name")] = blk.LabelRanges[1]
	defer func() { a.Sinks = append(a.Sinks, s) }()

	schema, ok := sinkSchemas[s.Type]
	if !ok {
		return // the validator reports the type; the body means nothing
	}
	label := sinkLabel(&s)
	b := d.attrs(d.content(blk.Body, schema, label).Attributes, scope, label)
	b.str("path", &s.Path)
	b.str("url", &s.URL)
	b.strMap("headers", &s.Headers)
	b.duration("timeout", &s.Timeout)
	b.str("dsn", &s.DSN)
	b.boolean("create_tables", &s.CreateTables)
	b.str("counters_table", &s.CountersTable)
	b.str("values_table", &s.ValuesTable)
	b.statement("counters_statement", &s.CountersStatement, "the counters table")
	b.statement("values_statement", &s.ValuesStatement, "the values table")
}

func (d *decoder) store(a *Agent, blk *hcl.Block) {
	scope := fmt.Sprintf("store.%d", len(a.Stores))
	s := defaultStore(node.StoreKind(blk.Type), blk.Labels[0])
	s.Range = blk.DefRange
	d.pos[posKey(scope, "name")] = blk.LabelRanges[0]
	label := storeLabel(&s)

	c := d.content(blk.Body, storeSchema, label)
	d.applies(s.Config.Kind, label, c)
	b := d.attrs(c.Attributes, scope, label)
	cfg, def := &s.Config, s.Config
	b.str("sink", &s.Sink)
	if b.storeDuration(setting{name: "interval", def: def.Interval.String(),
		zero: "must be positive for a store with a sink"}, &cfg.Interval) {
		cfg.Jitter = node.DefaultJitter(cfg.Interval)
	}
	b.storeDuration(setting{name: "jitter", def: cfg.Jitter.String(), none: "no jitter"}, &cfg.Jitter)
	b.storeInt(setting{name: "retry_max", def: strconv.Itoa(def.RetryMax),
		zero: "must be at least 1, the number of attempts with the first included (1: no retry)"}, &cfg.RetryMax)
	b.storeDuration(setting{name: "retry_delay", def: def.RetryDelay.String()}, &cfg.RetryDelay)
	b.storeDuration(setting{name: "flush_timeout", def: def.FlushTimeout.String(), none: "no limit"}, &cfg.FlushTimeout)
	b.storeInt(setting{name: "max_size", none: "no limit", zeroIsNone: true}, &cfg.MaxSize)
	b.storeSize(setting{name: "max_bytes", def: formatSize(def.MaxBytes), none: "no bound"}, &cfg.MaxBytes)
	b.storeDuration(setting{name: "refresh_interval", none: "never", zeroIsNone: true}, &cfg.RefreshInterval)
	b.storeDuration(setting{name: "ttl", none: "never", zeroIsNone: true}, &cfg.TTL)
	b.storeInt(setting{name: "max_entries", none: "no bound", zeroIsNone: true}, &cfg.MaxEntries)
	b.boolean("dump", &cfg.Dump)
	b.boolean("skip_save", &cfg.SkipSave)
	b.ack("ack", &cfg.Ack)
	b.storeInt(setting{name: "replicas", def: strconv.Itoa(node.DefaultReplicas),
		zero: `must be at least 1 (for no backup, say ack = "wal")`}, &cfg.Replicas)

	for _, lb := range c.Blocks {
		if s.Loader != nil {
			d.diags = d.diags.Append(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("%s: loader: only one loader block is allowed, the first is at %s", label, rangeStart(s.Loader.Range)),
				Subject:  lb.DefRange.Ptr(),
			})
			continue
		}
		s.Loader = d.loader(scope+".loader", label, lb, cfg)
	}
	a.Stores = append(a.Stores, s)
}

// applies reports the attributes and blocks of c that do not apply to a
// store of kind, and removes them from c so they are not decoded.
func (d *decoder) applies(kind node.StoreKind, label string, c *hcl.BodyContent) {
	for _, name := range slices.Sorted(maps.Keys(c.Attributes)) {
		kinds := storeKinds[name]
		if slices.Contains(kinds, kind) {
			continue
		}
		d.diags = d.diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  label + ": Unsupported argument",
			Detail: fmt.Sprintf("An argument named %q is not expected here: %s applies to %s stores only, not to %s stores.",
				name, name, kindList(kinds), kind),
			Subject: c.Attributes[name].NameRange.Ptr(),
		})
		delete(c.Attributes, name)
	}
	blocks := c.Blocks[:0]
	for _, blk := range c.Blocks {
		if kinds := storeBlockKinds[blk.Type]; !slices.Contains(kinds, kind) {
			d.diags = d.diags.Append(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  label + ": Unsupported block type",
				Detail: fmt.Sprintf("Blocks of type %q are not expected here: a %s applies to %s stores only, not to %s stores.",
					blk.Type, blk.Type, kindList(kinds), kind),
				Subject: blk.TypeRange.Ptr(),
			})
			continue
		}
		blocks = append(blocks, blk)
	}
	c.Blocks = blocks
}

// kindList renders kinds for a message: "buffer", "counter and buffer".
func kindList(kinds []node.StoreKind) string {
	s := make([]string, len(kinds))
	for i, k := range kinds {
		s[i] = string(k)
	}
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

func (d *decoder) loader(scope, storeLabel string, blk *hcl.Block, cfg *node.StoreConfig) *Loader {
	l := &Loader{Type: blk.Labels[0], Range: blk.DefRange}
	d.pos[posKey(scope, "type")] = blk.LabelRanges[0]
	schema, ok := loaderSchemas[l.Type]
	if !ok {
		return l // the validator reports the type
	}
	label := loaderLabel(storeLabel, l)
	b := d.attrs(d.content(blk.Body, schema, label).Attributes, scope, label)
	b.str("url", &l.URL)
	b.str("dsn", &l.DSN)
	b.str("query", &l.Query)
	b.nonBlank("init_url", &l.InitURL, "to start the cache empty")
	b.nonBlank("init_query", &l.InitQuery, "to start the cache empty")
	b.storeDuration(setting{name: "timeout", def: cfg.LoadTimeout.String()}, &cfg.LoadTimeout)
	return l
}

// sinkLabel, storeLabel and loaderLabel name a block in messages the way it
// is declared in the file.
func sinkLabel(s *Sink) string   { return fmt.Sprintf("sink %q %q", s.Type, s.Name) }
func storeLabel(s *Store) string { return fmt.Sprintf("%s %q", s.Config.Kind, s.Config.Name) }
func loaderLabel(storeLabel string, l *Loader) string {
	return fmt.Sprintf("%s: loader %q", storeLabel, l.Type)
}

// rangeStart renders the start of r as "file:line,col".
func rangeStart(r hcl.Range) string {
	return fmt.Sprintf("%s:%d,%d", r.Filename, r.Start.Line, r.Start.Column)
}

// prefix returns diags with label prepended to each summary.
func prefix(diags hcl.Diagnostics, label string) hcl.Diagnostics {
	if label == "" {
		return diags
	}
	out := make(hcl.Diagnostics, len(diags))
	for i, d := range diags {
		c := *d
		c.Summary = label + ": " + c.Summary
		out[i] = &c
	}
	return out
}
