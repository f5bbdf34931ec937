package stores

import (
	"cmp"
	"fmt"
	"regexp"
	"time"

	"github.com/hoard-dev/hoard/loaders"
	"github.com/hoard-dev/hoard/sinks"
)

// Kind is what a store holds.
type Kind string

const (
	// KindCounter stores hold int64 deltas per key, flushed as sums.
	KindCounter Kind = "counter"
	// KindBuffer stores hold a list of values per key, flushed in order.
	KindBuffer Kind = "buffer"
	// KindCache stores hold a value per key, loaded through a loader on a
	// miss and kept for reads.
	KindCache Kind = "cache"
)

// Ack is when a write is acknowledged; see Config.Ack.
type Ack string

const (
	// AckMemory acknowledges a write once the key's owner applied it.
	AckMemory Ack = "memory"
	// AckWAL acknowledges a write once the owner's write-ahead log has it.
	AckWAL Ack = "wal"
	// AckReplicated acknowledges a write once the owner's write-ahead log
	// has it and every backup of its partition holds it: the default.
	AckReplicated Ack = "replicated"
)

// DefaultReplicas is the backups a replicated write waits for when
// Config.Replicas is zero.
const DefaultReplicas = 1

// Store defaults: DefaultConfig returns them; a zero field of a
// Config means its default. `hoard agent` takes its defaults from
// DefaultConfig too, so a setting left out of its file means the same.
const (
	DefaultInterval     = 5 * time.Second
	DefaultRetryMax     = 5
	DefaultRetryDelay   = time.Second
	DefaultFlushTimeout = 30 * time.Second
	DefaultMaxBytes     = 64 << 20
	DefaultLoadTimeout  = 10 * time.Second
	DefaultDumpInterval = time.Minute
)

// MinInterval is the shortest flush, refresh or dump interval: each round
// walks every partition of the store, so a shorter period spends a core on
// rounds with next to nothing to do instead of on writes.
const MinInterval = 10 * time.Millisecond

// Config declares a store. Every node of a cluster declares the same
// stores.
//
// A zero field means its default (see DefaultConfig), or none where
// there is no default (MaxSize, RefreshInterval, TTL, MaxEntries). A field
// that has a default and can be turned off takes a negative value for none:
// Jitter, FlushTimeout and MaxBytes.
type Config struct {
	// Name identifies the store: 1-64 letters, digits, '_', '.' or '-'.
	Name string

	// Kind is what the store holds.
	Kind Kind

	// Sink receives the store's flushed batches. Required.
	Sink sinks.Sink

	// Interval is the time between two flushes of the store on a node.
	// Shorter means fresher data in the sink and more, smaller writes.
	// Zero means DefaultInterval.
	Interval time.Duration

	// Jitter adds up to this much, at random, to each interval, so nodes do
	// not hit the sink together. Zero means DefaultJitter(Interval), a
	// fifth of it; negative disables.
	Jitter time.Duration

	// RetryMax is how many times a batch is tried in all, the first attempt
	// included, before it goes to the dead-letter. Zero means
	// DefaultRetryMax; 1 means no retry.
	RetryMax int

	// RetryDelay is the pause after the first failed attempt; it doubles
	// after each further failure (with jitter, capped at 5 minutes). Zero
	// means DefaultRetryDelay.
	RetryDelay time.Duration

	// FlushTimeout bounds each attempt: the sink's context ends then. Zero
	// means DefaultFlushTimeout; negative means no limit.
	FlushTimeout time.Duration

	// MaxSize (buffers) flushes a key at once when it holds this many
	// values. Zero means no limit: keys flush on their interval.
	MaxSize int

	// MaxBytes (buffers) bounds the bytes a store holds on one node, values
	// waiting and being flushed alike. Above half of it the node flushes
	// early; at it, inserts fail with ErrOverloaded until the sink catches
	// up. Zero means DefaultMaxBytes; negative means no bound.
	MaxBytes int64

	// Loader (caches, required) loads a key's value on a miss. A loader
	// that implements loaders.Initializer seeds the cache at start.
	Loader loaders.Loader

	// LoadTimeout (caches) bounds one loader call. Zero means
	// DefaultLoadTimeout.
	LoadTimeout time.Duration

	// RefreshInterval (caches) reloads every key the node holds this
	// often, keeping the old value when a reload fails. Zero: never.
	RefreshInterval time.Duration

	// TTL (caches) drops an entry not read or refreshed for this long.
	// Zero: never.
	TTL time.Duration

	// MaxEntries (caches) bounds the entries one node holds; above it the
	// least recently read are evicted (approximately, by sampling). Zero:
	// no bound.
	MaxEntries int

	// Dump (caches) writes the node's entries to DataDir/cache/NAME.dump
	// every DumpInterval and on shutdown, and loads them at start.
	Dump bool

	// DumpInterval is how often a dump is written. Zero means
	// DefaultDumpInterval.
	DumpInterval time.Duration

	// SkipSave (caches) returns loaded values without caching them.
	SkipSave bool

	// Ack (counters and buffers) is when a write is acknowledged: AckMemory
	// once the owner applied it; AckWAL once the owner's write-ahead log
	// also has it (written, and fsynced as the node's WALSync says), so the
	// owner's crash and restart with its DataDir loses nothing;
	// AckReplicated once, in addition, each of the partition's first
	// Replicas backups holds it (in memory and in its own log), so the
	// owner's machine lost for good loses nothing while one backup lives:
	// the backups deliver its ops when it is declared failed. Each costs
	// more per write than the one before (see the README's figures). Zero
	// means AckReplicated.
	Ack Ack

	// Replicas (ack = replicated) is the number of backups each write waits
	// for. It is at most Ring.Backups. With fewer live members than
	// 1+Replicas, writes wait for the members there are (none: the owner's
	// log alone). Zero means DefaultReplicas.
	Replicas int
}

var storeNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// DefaultConfig returns the defaults of a store of kind: what a zero
// field of a Config means, and what `hoard agent` starts from before it
// reads a store block. Name, Sink and Loader are left for the caller.
func DefaultConfig(kind Kind) Config {
	c := Config{Kind: kind}
	switch kind {
	case KindCounter, KindBuffer:
		c.Interval = DefaultInterval
		c.Jitter = DefaultJitter(DefaultInterval)
		c.RetryMax = DefaultRetryMax
		c.RetryDelay = DefaultRetryDelay
		c.FlushTimeout = DefaultFlushTimeout
		c.Ack = AckReplicated
		c.Replicas = DefaultReplicas
		if kind == KindBuffer {
			c.MaxBytes = DefaultMaxBytes
		}
	case KindCache:
		c.LoadTimeout = DefaultLoadTimeout
		c.DumpInterval = DefaultDumpInterval
	}
	return c
}

// DefaultJitter returns the jitter of a store flushing every interval when
// its Jitter is zero: a fifth of the interval.
func DefaultJitter(interval time.Duration) time.Duration {
	return interval / 5
}

// logged reports whether the store writes its ops to the node's log
// before acknowledging them (ack wal or replicated), c having its defaults.
func (c Config) Logged() bool { return c.Kind != KindCache && c.Ack != AckMemory }

// WithDefaults returns c with zero fields set to their defaults (those of
// DefaultConfig) and negative "none" fields set to zero.
func (c Config) WithDefaults() Config {
	d := DefaultConfig(c.Kind)
	c.Interval = cmp.Or(c.Interval, d.Interval)
	c.Jitter = cmp.Or(c.Jitter, DefaultJitter(c.Interval))
	c.Jitter = max(c.Jitter, 0)
	c.RetryMax = cmp.Or(c.RetryMax, d.RetryMax)
	c.RetryDelay = cmp.Or(c.RetryDelay, d.RetryDelay)
	c.FlushTimeout = cmp.Or(c.FlushTimeout, d.FlushTimeout)
	c.MaxBytes = cmp.Or(c.MaxBytes, d.MaxBytes)
	c.LoadTimeout = cmp.Or(c.LoadTimeout, d.LoadTimeout)
	c.DumpInterval = cmp.Or(c.DumpInterval, d.DumpInterval)
	c.Ack = cmp.Or(c.Ack, d.Ack)
	c.Replicas = cmp.Or(c.Replicas, d.Replicas)
	return c
}

// Validate reports the first problem with the store's declaration.
func (c Config) Validate() error {
	switch {
	case !storeNameRE.MatchString(c.Name):
		return fmt.Errorf("store %q: name must be 1-64 letters, digits, '_', '.' or '-'", c.Name)
	case c.Kind != KindCounter && c.Kind != KindBuffer && c.Kind != KindCache:
		return fmt.Errorf("store %q: unsupported kind %q", c.Name, c.Kind)
	case c.MaxSize < 0:
		return fmt.Errorf("store %q: negative max_size %d", c.Name, c.MaxSize)
	case c.Kind == KindCache && c.Loader == nil:
		return fmt.Errorf("store %q: a cache store needs a loader", c.Name)
	case c.Kind != KindCache && c.Sink == nil:
		return fmt.Errorf("store %q: no sink", c.Name)
	case c.TTL < 0, c.RefreshInterval < 0, c.LoadTimeout < 0, c.DumpInterval < 0, c.MaxEntries < 0:
		return fmt.Errorf("store %q: negative ttl, refresh interval, load timeout, dump interval or max entries", c.Name)
	case c.Interval < 0, c.RetryDelay < 0:
		return fmt.Errorf("store %q: negative interval or retry delay", c.Name)
	case c.Interval > 0 && c.Interval < MinInterval, c.RefreshInterval > 0 && c.RefreshInterval < MinInterval, c.DumpInterval > 0 && c.DumpInterval < MinInterval:
		return fmt.Errorf("store %q: interval, refresh interval and dump interval must be at least %s: each round walks every partition, so a shorter period burns a core on rounds with nothing to do", c.Name, MinInterval)
	case c.RetryMax < 0:
		return fmt.Errorf("store %q: negative retry_max %d", c.Name, c.RetryMax)
	case c.Ack != "" && c.Ack != AckMemory && c.Ack != AckWAL && c.Ack != AckReplicated:
		return fmt.Errorf("store %q: ack %q is not %q, %q or %q", c.Name, c.Ack, AckMemory, AckWAL, AckReplicated)
	case c.Replicas < 0:
		return fmt.Errorf("store %q: negative replicas %d", c.Name, c.Replicas)
	case c.Kind == KindCache && c.Replicas > 0:
		return fmt.Errorf("store %q: a cache store holds no writes to replicate: replicas applies to counters and buffers", c.Name)
	case c.Kind == KindCache && c.Ack != "" && c.Ack != AckMemory:
		return fmt.Errorf("store %q: a cache store holds no writes to log: ack %q applies to counters and buffers", c.Name, c.Ack)
	}
	return nil
}
