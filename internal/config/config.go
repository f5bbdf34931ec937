package config

import (
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/sinks"
)

// DefaultLogLevel is the log level of an agent whose file sets none.
const DefaultLogLevel = "info"

// None is what the file says to turn a store setting off ("no limit",
// "never"), where it can be: jitter, flush_timeout, max_size, max_bytes,
// refresh_interval, ttl and max_entries.
const None = "none"

// Sink types, the first label of a sink block.
const (
	SinkFile     = "file"
	SinkStdout   = "stdout"
	SinkHTTP     = "http"
	SinkPostgres = "postgres"
)

// Loader types, the label of a cache store's loader block.
const (
	LoaderHTTP     = "http"
	LoaderPostgres = "postgres"
)

// LogLevels lists the accepted values of log_level, most verbose first.
var LogLevels = []string{"trace", "debug", "info", "warn", "error"}

// Agent is the configuration of one `hoard agent` process.
//
// Its node settings are Node, the node's own configuration: Default starts
// from node.DefaultConfig and Parse applies the file's top-level attributes
// to it, so every field means exactly what it means to the node and a
// setting left out of the file keeps the node's default. The file's
// top-level attributes map to the fields one to one:
//
//	name             Node.Name: required, unique among the members, 1 to 64
//	                 letters, digits, '_', '.' and '-'
//	cluster          Node.Cluster: peers announcing another cluster are
//	                 refused, so two clusters on one network never merge
//	bind_addr        Node.BindAddr: gossip host:port, TCP and UDP; an empty
//	                 host means every interface, port 0 a free port
//	advertise_addr   Node.AdvertiseAddr: the gossip host:port peers use when
//	                 bind_addr is not reachable from them (NAT, containers,
//	                 0.0.0.0); it needs a host and a non-zero port
//	rpc_addr         Node.RPCAddr: msgpack TCP for clients and peers
//	http_addr        Node.HTTPAddr: health, metrics and status; "" disables
//	                 it, while leaving it out (or null) keeps the default
//	resp_addr        Node.RESPAddr: a RESP2 listener for Redis clients
//	                 (redis-cli, go-redis...); "" (the default) disables it
//	resp_separator   Node.RESPSeparator: splits a RESP key into store and
//	                 key at its first occurrence, default ":"
//	join             Node.Join: gossip addresses (host:port) of members to
//	                 join at start; empty starts a new cluster
//	data_dir         Node.DataDir: dead letters, cache dumps and other
//	                 state; default DefaultDataDir(name), and "" is refused
//	partitions       Node.Ring.Partitions: equal on every node of a cluster
//	max_value_bytes  Node.MaxValueBytes: a byte count or a size such as
//	                 "1MiB", from 1 byte to 8MiB
//	wal_fsync        Node.WALSync: "always" (node.WALSyncAlways) or how
//	                 often the write-ahead log is fsynced, default "100ms"
//	log_level        LogLevel, the agent's own
//	encrypt          Node.EncryptKey: the gossip key, base64 of 16, 24 or
//	                 32 bytes (`hoard keygen` makes one); left out, gossip
//	                 is in the clear
//	metrics_open     Node.MetricsOpen: /metrics needs no token; default
//	                 false
//	max_connections  Node.MaxConns: connections each listener holds at
//	                 once, at least 1, default node.DefaultMaxConns
//	idle_timeout     Node.IdleTimeout: closes a silent connection, at least
//	                 MinIdleTimeout, default node.DefaultIdleTimeout
//
// and its blocks:
//
//	tls { ... }      Node.TLS, at most one block: ca_file, cert_file and
//	                 key_file (PEM files), verify_incoming and
//	                 verify_outgoing (booleans, default false) and
//	                 server_name; see tlsconf.Config. With the block, a
//	                 node needs cert_file and key_file; the verify settings
//	                 need ca_file, and server_name needs verify_outgoing.
//	                 Parse and Validate read the files (tlsconf.New), so a
//	                 missing file or a key that does not match its
//	                 certificate is reported at its attribute
//	token "NAME" {}  one of Node.Tokens: role ("read", "write" or
//	                 "admin") and either secret or secret_file, a file
//	                 holding the secret (its trailing line breaks dropped),
//	                 read by Parse; checked with auth.NewTokens (at least
//	                 auth.MinSecretLen bytes, names and secrets distinct)
//
// Relative file paths (ca_file, cert_file, key_file, secret_file, like
// data_dir and a file sink's path) are relative to the agent's working
// directory, not to the configuration file's. Messages never show a
// secret or the encryption key.
//
// Parse fills in every default; Default returns the defaults alone. A
// caller applying command-line overrides sets fields and then calls
// Validate.
type Agent struct {
	// Node holds the node's settings. Name and DataDir have no default of
	// their own: Name is required and Validate sets an empty DataDir to
	// DefaultDataDir(Name). Stores, HTTPRoutes and Logger are left nil: the
	// agent builds them from Stores, Sinks and LogLevel. Fields the file
	// does not set (LeaveTimeout, Gossip, the rest of Ring, ...) keep
	// node.DefaultConfig's values.
	Node node.Config

	// LogLevel is one of LogLevels (log_level). Default DefaultLogLevel.
	LogLevel string

	// Sinks are the declared sink blocks, in file order.
	Sinks []Sink

	// Stores are the declared counter, buffer and cache blocks, in file order.
	Stores []Store
}

// Sink is one `sink "TYPE" "NAME" { ... }` block: where stores flush to.
type Sink struct {
	// Type is SinkFile, SinkStdout, SinkHTTP or SinkPostgres.
	Type string
	// Name is what stores refer to in their sink attribute.
	Name string

	// Path is the JSON Lines file a file sink appends to (path); required.
	Path string

	// URL is where an http sink POSTs batches (url); required, http or https.
	URL string
	// Headers are extra request headers of an http sink (headers).
	Headers map[string]string

	// Timeout (timeout) bounds one request of an http sink; zero means the
	// request is bounded only by the store's flush timeout. For a postgres
	// sink it bounds connecting; zero means sinks.DefaultPostgresTimeout.
	Timeout time.Duration

	// DSN is a postgres sink's connection string (dsn); required.
	DSN string
	// CreateTables makes a postgres sink create its tables when they are
	// missing (create_tables).
	CreateTables bool
	// CountersTable and ValuesTable name the tables a postgres sink writes
	// counters and buffer values to (counters_table, values_table),
	// optionally schema-qualified. Defaults sinks.DefaultCountersTable and
	// sinks.DefaultValuesTable.
	CountersTable, ValuesTable string
	// CountersStatement and ValuesStatement (counters_statement,
	// values_statement) are a postgres sink's own statements, run instead
	// of writing the counters or values table: see
	// sinks.PostgresConfig.CountersStatement and ValuesStatement. Empty:
	// the table is written. A blank statement is an error.
	CountersStatement, ValuesStatement string

	// Range is where the block was declared (its type and labels); zero for
	// a sink not read from a file.
	Range hcl.Range
}

// Store is one `counter|buffer|cache "NAME" { ... }` block.
//
// Its settings are Config, the node's own store configuration: Parse starts
// from node.DefaultStoreConfig(kind) and applies the block's attributes, so
// every field means exactly what it means to the node, a negative Jitter,
// FlushTimeout or MaxBytes included (none, written "none" in the file). The
// file's attributes map to the fields one to one:
//
//	sink              Sink (the agent sets Config.Sink from it)
//	interval          Config.Interval
//	jitter            Config.Jitter
//	retry_max         Config.RetryMax (attempts in all, the first included)
//	retry_delay       Config.RetryDelay
//	flush_timeout     Config.FlushTimeout
//	max_size          Config.MaxSize
//	max_bytes         Config.MaxBytes
//	refresh_interval  Config.RefreshInterval
//	ttl               Config.TTL
//	max_entries       Config.MaxEntries
//	dump              Config.Dump
//	skip_save         Config.SkipSave
//	ack               Config.Ack: "replicated" (default), "wal" or "memory"
//	replicas          Config.Replicas (ack = "replicated")
//	loader's timeout  Config.LoadTimeout
//
// An attribute that does not apply to the block's kind is an error.
type Store struct {
	// Config holds the store's name, kind and settings. Its Sink and Loader
	// are nil: the agent builds them from the Sink and Loader fields below.
	Config node.StoreConfig

	// Sink names the sink block the store flushes to (sink); required for
	// counter and buffer stores, refused for caches, which never flush.
	Sink string

	// Loader is a cache's loader block, from which the agent builds
	// Config.Loader; nil when there is none. Its timeout attribute is
	// Config.LoadTimeout, which bounds one load.
	Loader *Loader

	// Range is where the block was declared (its kind and name); zero for a
	// store not read from a file.
	Range hcl.Range
}

// Loader is a cache store's `loader "TYPE" { ... }` block.
type Loader struct {
	// Type is LoaderHTTP or LoaderPostgres.
	Type string
	// URL is an http loader's GET URL (url); "{key}" in it is replaced by
	// the path-escaped key. Required.
	URL string
	// DSN is a postgres loader's connection string (dsn); required.
	DSN string
	// Query is a postgres loader's query (query), taking the key as $1 and
	// returning the value in its first column; required.
	Query string
	// InitURL is an http loader's seeding URL (init_url): a GET at start
	// returning a JSON object of strings, {"key": "value", ...}, each an
	// entry. Empty: no seeding; the file refuses init_url = "".
	InitURL string
	// InitQuery is a postgres loader's seeding query (init_query): run at
	// start, it returns (key, value) rows, each an entry. Empty: no
	// seeding; the file refuses init_query = "".
	InitQuery string
	// Range is where the block was declared; zero for a loader not read
	// from a file.
	Range hcl.Range
}

// Default returns an Agent with every default filled in and no name, sinks
// or stores: Node is node.DefaultConfig's, without its Name and DataDir,
// and LogLevel is DefaultLogLevel. DataDir depends on the name (see
// DefaultDataDir), and Validate fills it in.
func Default() Agent {
	n := *node.DefaultConfig()
	n.Name, n.DataDir = "", ""
	return Agent{Node: n, LogLevel: DefaultLogLevel}
}

// DefaultDataDir returns the data directory of a node named name when the
// configuration does not set one: "./data/" + name.
func DefaultDataDir(name string) string {
	return "./data/" + name
}

// defaultStore returns a store of the given kind with the node's defaults.
func defaultStore(kind node.StoreKind, name string) Store {
	c := node.DefaultStoreConfig(kind)
	c.Name = name
	return Store{Config: c}
}

// defaultSink returns a sink of the given type with its defaults.
func defaultSink(typ, name string) Sink {
	s := Sink{Type: typ, Name: name}
	if typ == SinkPostgres {
		s.CountersTable = sinks.DefaultCountersTable
		s.ValuesTable = sinks.DefaultValuesTable
	}
	return s
}
