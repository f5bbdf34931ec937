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
// Parse fills in every default; Default returns the defaults alone. The
// node's defaults come from node.DefaultConfig and a store's from
// node.DefaultStoreConfig, so a setting left out of the file means what a
// zero field means to the node. A caller applying command-line overrides
// sets fields and then calls Validate.
type Agent struct {
	// Name identifies the node in the cluster; required, unique among the
	// members, and made of letters, digits, '_', '.' and '-' (at most 64).
	Name string

	// Cluster is the cluster's name (cluster); a node refuses peers that
	// announce another one, so two clusters on one network never merge.
	// Default node.DefaultConfig().Cluster, "hoard".
	Cluster string

	// BindAddr is the host:port the gossip layer listens on, TCP and UDP
	// (bind_addr). An empty host means every interface; port 0 picks a free
	// port. Default node.DefaultConfig().BindAddr, "127.0.0.1:7946".
	BindAddr string

	// AdvertiseAddr is the host:port peers use to reach the gossip port
	// (advertise_addr), for when BindAddr is not reachable from them (NAT,
	// containers, 0.0.0.0). Empty means BindAddr.
	AdvertiseAddr string

	// RPCAddr is the host:port of the msgpack TCP listener for clients and
	// peers (rpc_addr). Default node.DefaultConfig().RPCAddr,
	// "127.0.0.1:7373".
	RPCAddr string

	// HTTPAddr is the host:port of the health, metrics and status listener
	// (http_addr). Empty disables it; leaving the attribute out of the file
	// (or setting it to null) means the default,
	// node.DefaultConfig().HTTPAddr, "127.0.0.1:8080".
	HTTPAddr string

	// Join lists gossip addresses (host:port) of existing members to join at
	// start (join). Empty starts a new cluster.
	Join []string

	// DataDir holds the node's dead letters, cache dumps and other state
	// (data_dir). Default DefaultDataDir(Name); Validate fills it in when it
	// is empty.
	DataDir string

	// LogLevel is one of LogLevels (log_level). Default DefaultLogLevel.
	LogLevel string

	// Partitions is the number of ring partitions keys are hashed into
	// (partitions); every node of a cluster must use the same number. More
	// partitions spread keys more evenly at the cost of a larger ring.
	// Default node.DefaultConfig().Ring.Partitions, 1021.
	Partitions int

	// MaxValueBytes bounds one buffer or cache value (max_value_bytes);
	// larger ones are refused. Accepts a size like "1MiB". Default
	// node.DefaultMaxValueBytes, 1MiB.
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
	// Range is where the block was declared; zero for a loader not read
	// from a file.
	Range hcl.Range
}

// Default returns an Agent with every default filled in and no name, sinks
// or stores: node.DefaultConfig's, and DefaultLogLevel. DataDir is empty: it
// depends on the name (see DefaultDataDir), and Validate fills it in.
func Default() Agent {
	n := node.DefaultConfig()
	return Agent{
		Cluster:       n.Cluster,
		BindAddr:      n.BindAddr,
		RPCAddr:       n.RPCAddr,
		HTTPAddr:      n.HTTPAddr,
		LogLevel:      DefaultLogLevel,
		Partitions:    n.Ring.Partitions,
		MaxValueBytes: int64(n.MaxValueBytes),
	}
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
