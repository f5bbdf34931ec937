package op

import (
	"context"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// Host is what a store kind needs from the node that runs it.
type Host struct {
	// Node is the node's name, stamped on batches.
	Node string
	// Partitions is the ring's partition count: the store's shards.
	Partitions int
	// Go runs f on a goroutine the node waits for on shutdown; it returns
	// false, without running f, once the node is stopping.
	Go func(f func()) bool
	// Stopping ends when the node starts stopping.
	Stopping context.Context
	// Exposed counts the ops acknowledged on the node and not yet delivered
	// to a sink or dead-lettered: what a crash would lose.
	Exposed *atomic.Int64
	// BatchID returns a batch ID unique in the cluster's history.
	BatchID func() string
	// Logger is the store's logger.
	Logger hclog.Logger
}
