package node

import (
	"time"

	"github.com/hoard-dev/hoard/internal/stores"
)

// StoreConfig declares a store: its name, kind, sink or loader, flush
// interval, retries, bounds and ack. Every node of a cluster declares the
// same stores. Each field is documented where the type is defined
// (internal/stores.Config): what it trades and what zero means. A zero
// field means its default (DefaultStoreConfig), or none where there is no
// default; a field that has a default and can be turned off takes a
// negative value for none (Jitter, FlushTimeout, MaxBytes).
type StoreConfig = stores.Config

// StoreKind is what a store holds.
type StoreKind = stores.Kind

const (
	// KindCounter stores hold int64 deltas per key, flushed as sums.
	KindCounter = stores.KindCounter
	// KindBuffer stores hold a list of values per key, flushed in order.
	KindBuffer = stores.KindBuffer
	// KindCache stores hold a value per key, loaded through a loader on a
	// miss and kept for reads.
	KindCache = stores.KindCache
)

// Ack is when a write is acknowledged; see StoreConfig.Ack.
type Ack = stores.Ack

const (
	// AckMemory acknowledges a write once the key's owner applied it.
	AckMemory = stores.AckMemory
	// AckWAL acknowledges a write once the owner's write-ahead log has it.
	AckWAL = stores.AckWAL
	// AckReplicated acknowledges a write once the owner's write-ahead log
	// has it and every backup of its partition holds it: the default.
	AckReplicated = stores.AckReplicated
)

// Store defaults: DefaultStoreConfig returns them; a zero field of a
// StoreConfig means its default. `hoard agent` takes its defaults from
// DefaultStoreConfig too, so a setting left out of its file means the same.
const (
	DefaultInterval     = stores.DefaultInterval
	DefaultRetryMax     = stores.DefaultRetryMax
	DefaultRetryDelay   = stores.DefaultRetryDelay
	DefaultFlushTimeout = stores.DefaultFlushTimeout
	DefaultMaxBytes     = stores.DefaultMaxBytes
	DefaultLoadTimeout  = stores.DefaultLoadTimeout
	DefaultDumpInterval = stores.DefaultDumpInterval
	// DefaultReplicas is the backups a replicated write waits for when
	// StoreConfig.Replicas is zero.
	DefaultReplicas = stores.DefaultReplicas
	// MinInterval is the shortest flush, refresh or dump interval: each
	// round walks every partition of the store.
	MinInterval = stores.MinInterval
)

// DefaultStoreConfig returns the defaults of a store of kind: what a zero
// field of a StoreConfig means, and what `hoard agent` starts from before it
// reads a store block. Name, Sink and Loader are left for the caller.
func DefaultStoreConfig(kind StoreKind) StoreConfig { return stores.DefaultConfig(kind) }

// DefaultJitter returns the jitter of a store flushing every interval when
// its Jitter is zero: a fifth of the interval.
func DefaultJitter(interval time.Duration) time.Duration { return stores.DefaultJitter(interval) }
