package config

import (
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Defaults used by Default and Parse for settings a file leaves out.
const (
	DefaultCluster       = "hoard"
	DefaultBindAddr      = "127.0.0.1:7946"
	DefaultRPCAddr       = "127.0.0.1:7373"
	DefaultHTTPAddr      = "127.0.0.1:8080"
	DefaultLogLevel      = "info"
	DefaultPartitions    = 1021
	DefaultMaxValueBytes = 1 << 20
	DefaultInterval      = 5 * time.Second
	DefaultRetryMax      = 5
	DefaultRetryDelay    = time.Second
	DefaultFlushTimeout  = 30 * time.Second
	DefaultMaxBytes      = 64 << 20 // 64MiB
	DefaultLoaderTimeout = 5 * time.Second

	DefaultCountersTable = "hoard_counters"
	DefaultValuesTable   = "hoard_values"
)

// Store kinds, as written in the configuration file.
const (
	KindCounter = "counter"
	KindBuffer  = "buffer"
	KindCache   = "cache"
)

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
// Parse fills in every default; Default returns the defaults alone. A caller
// applying command-line overrides sets fields and then calls Validate.
type Agent struct {
	// Name identifies the node in the cluster; required, unique among the
	// members, and made of letters, digits, '_', '.' and '-' (at most 64).
	Name string

	// Cluster is the cluster's name (cluster); a node refuses peers that
	// announce another one, so two clusters on one network never merge.
	// Default "hoard".
	Cluster string

	// BindAddr is the host:port the gossip layer listens on, TCP and UDP
	// (bind_addr). An empty host means every interface; port 0 picks a free
	// port. Default "127.0.0.1:7946".
	BindAddr string

	// AdvertiseAddr is the host:port peers use to reach the gossip port
	// (advertise_addr), for when BindAddr is not reachable from them (NAT,
	// containers, 0.0.0.0). Empty means BindAddr.
	AdvertiseAddr string

	// RPCAddr is the host:port of the msgpack TCP listener for clients and
	// peers (rpc_addr). Default "127.0.0.1:7373".
	RPCAddr string

	// HTTPAddr is the host:port of the health, metrics and status listener
	// (http_addr). Empty disables it; leaving the attribute out of the file
	// (or setting it to null) means the default "127.0.0.1:8080".
	HTTPAddr string

	// Join lists gossip addresses (host:port) of existing members to join at
	// start (join). Empty starts a new cluster.
	Join []string

	// DataDir holds the node's dead letters, cache dumps and other state
	// (data_dir). Default DefaultDataDir(Name); Validate fills it in when it
	// is empty.
	DataDir string

	// LogLevel is one of LogLevels (log_level). Default "info".
	LogLevel string

	// Partitions is the number of ring partitions keys are hashed into
	// (partitions); every node of a cluster must use the same number. More
	// partitions spread keys more evenly at the cost of a larger ring.
	// Default 1021.
	Partitions int

	// MaxValueBytes bounds one buffer value (max_value_bytes); larger
	// inserts are refused. Accepts a size like "1MiB". Default 1MiB.
	MaxValueBytes int64

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

	// Timeout bounds one call to an http or postgres sink (timeout). Zero
	// means the call is bounded only by the store's FlushTimeout.
	Timeout time.Duration

	// DSN is a postgres sink's connection string (dsn); required.
	DSN string
	// CreateTables makes a postgres sink create its tables when they are
	// missing (create_tables).
	CreateTables bool
	// CountersTable and ValuesTable name the tables a postgres sink writes
	// counters and buffer values to (counters_table, values_table),
	// optionally schema-qualified. Defaults "hoard_counters" and
	// "hoard_values".
	CountersTable, ValuesTable string

	// Range is where the block was declared (its type and labels); zero for
	// a sink not read from a file.
	Range hcl.Range
}

// Store is one `counter|buffer|cache "NAME" { ... }` block.
type Store struct {
	// Kind is KindCounter, KindBuffer or KindCache.
	Kind string
	// Name is the store's name, unique across all kinds.
	Name string

	// Sink names the sink the store flushes to (sink); required for counter
	// and buffer stores, optional for caches.
	Sink string

	// Interval is the time between flushes (interval), default 5s. Jitter
	// is the most a flush is moved by at random, so nodes do not hit a sink
	// together (jitter); default Interval/5, at most Interval.
	Interval, Jitter time.Duration
	// RetryMax is how many times a failed flush is retried before the batch
	// goes to the dead letters (retry_max); 0 means no retry. Default 5.
	RetryMax int
	// RetryDelay is the first wait before a retry, doubled on each further
	// attempt (retry_delay). Default 1s.
	RetryDelay time.Duration
	// FlushTimeout bounds one attempt at flushing a batch (flush_timeout).
	// Zero means no limit. Default 30s.
	FlushTimeout time.Duration

	// MaxSize is the number of values a buffer key holds before it is
	// flushed early (max_size); 0 means unbounded.
	MaxSize int
	// MaxBytes bounds the bytes a buffer store holds on one node
	// (max_bytes), written as a number or a size such as "64MiB"; 0 means
	// unbounded. Default 64MiB for buffers.
	MaxBytes int64

	// RefreshInterval is the time between full reloads of a cache
	// (refresh_interval); 0 means never.
	RefreshInterval time.Duration
	// TTL is how long a cache entry lives after it was loaded (ttl); 0
	// means forever.
	TTL time.Duration
	// MaxEntries bounds the entries a cache holds on one node
	// (max_entries); 0 means unbounded.
	MaxEntries int
	// Dump makes a cache write its entries to a file in the data directory
	// at shutdown and reload them at start (dump).
	Dump bool
	// SkipSave makes a cache hand out the values its loader returns
	// without keeping them (skip_save), as DataWorker's skip_save does.
	SkipSave bool
	// Loader loads a cache's missing keys; nil means entries are only ever
	// set directly.
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
	// Timeout bounds one load (timeout). Default 5s; 0 means no limit.
	Timeout time.Duration
	// Range is where the block was declared; zero for a loader not read
	// from a file.
	Range hcl.Range
}

// Default returns an Agent with every default filled in and no name, sinks
// or stores. DataDir is empty: it depends on the name (see DefaultDataDir),
// and Validate fills it in.
func Default() Agent {
	return Agent{
		Cluster:       DefaultCluster,
		BindAddr:      DefaultBindAddr,
		RPCAddr:       DefaultRPCAddr,
		HTTPAddr:      DefaultHTTPAddr,
		LogLevel:      DefaultLogLevel,
		Partitions:    DefaultPartitions,
		MaxValueBytes: DefaultMaxValueBytes,
	}
}

// DefaultDataDir returns the data directory of a node named name when the
// configuration does not set one: "./data/" + name.
func DefaultDataDir(name string) string {
	return "./data/" + name
}

// defaultStore returns a store of the given kind with its defaults.
func defaultStore(kind, name string) Store {
	s := Store{
		Kind:         kind,
		Name:         name,
		Interval:     DefaultInterval,
		Jitter:       DefaultInterval / 5,
		RetryMax:     DefaultRetryMax,
		RetryDelay:   DefaultRetryDelay,
		FlushTimeout: DefaultFlushTimeout,
	}
	if kind == KindBuffer {
		s.MaxBytes = DefaultMaxBytes
	}
	return s
}

// defaultSink returns a sink of the given type with its defaults.
func defaultSink(typ, name string) Sink {
	s := Sink{Type: typ, Name: name}
	if typ == SinkPostgres {
		s.CountersTable = DefaultCountersTable
		s.ValuesTable = DefaultValuesTable
	}
	return s
}
