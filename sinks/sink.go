package sinks

import (
	"context"
	"time"
)

// Kind is the kind of store a batch comes from.
type Kind string

const (
	KindCounter Kind = "counter"
	KindBuffer  Kind = "buffer"
)

// Batch is one flush of one store by one node: many keys, handed to the
// store's sink in one call. ID is unique in the cluster's history (node
// name, boot ID, sequence) and stays the same when the batch is retried or
// replayed from the dead-letter, so a sink that records it can apply a
// batch at most once. The batch is the sink's: hoard does not touch it after
// handing it over.
type Batch struct {
	ID    string
	Store string
	Kind  Kind
	Node  string    // the node that flushed it
	Time  time.Time // when the flush started

	// Counts holds a counter store's deltas, one per key (KindCounter).
	Counts []Count
	// Values holds a buffer store's values, in insertion order per key
	// (KindBuffer).
	Values []Values

	// Origin names the log the batch's ops were written to: the node's
	// name and its incarnation, new at each start ("n1.7"). Empty for a
	// batch made before positions existed.
	Origin string `json:",omitempty"`
	// Ranges lists the ops the batch holds: per partition, the contiguous
	// ranges of their sequence numbers within Origin. The same ops always
	// make the same ranges and the same batch ID. A sink that records
	// positions (a Positioner) applies each range at most once.
	Ranges []Range `json:",omitempty"`
}

// Range is a contiguous run of op sequence numbers, First to Last
// inclusive, of one partition of a store within one origin.
type Range struct {
	Partition   int
	First, Last uint64
}

// Count is a counter key's delta since its last flush.
type Count struct {
	Key       string
	Count     int64
	Partition int `json:",omitempty"` // the key's partition, as in Batch.Ranges
}

// Values are a buffer key's values since its last flush, oldest first.
type Values struct {
	Key       string
	Values    [][]byte
	Partition int `json:",omitempty"` // the key's partition, as in Batch.Ranges
}

// Positioner is a sink that records, in the same transaction as the data,
// which ranges of each origin's ops it has applied, and applies a range
// only once: whoever delivers it (the node, the node after a restart, a
// dead-letter replay), nothing counts twice. A node replaying its log asks
// it what was applied and rebuilds only the rest.
type Positioner interface {
	Sink
	// Applied returns the ranges of origin's ops of store that the sink
	// has applied, by partition (merged where they touch).
	Applied(ctx context.Context, store, origin string) (map[int][]Range, error)
}

// Len is the number of keys in the batch.
func (b *Batch) Len() int { return len(b.Counts) + len(b.Values) }

// Sink receives flushed batches. Flush must honour the context's deadline
// and return nil only once the batch is durable wherever the sink puts it:
// an error makes hoard retry the same batch (same ID), then dead-letter it.
// Flush is called by one goroutine per store at a time, never with hoard's
// locks held; a panic is recovered into an error.
type Sink interface {
	Flush(ctx context.Context, b Batch) error
}

// Borrower is a Sink that only borrows a batch: once Flush returns it keeps
// none of the batch's slices (strings it may keep). hoard then reuses the
// memory of a counter batch's Counts for a later batch, so that a flush of
// hundreds of thousands of keys does not allocate megabytes afresh: on a
// busy node, faulting that memory in stalls the writers for milliseconds.
// File, Writer, Postgres and HTTP are Borrowers; Memory, which keeps the
// batches, is not.
type Borrower interface {
	Sink
	// BorrowsBatches marks the sink; it is never called.
	BorrowsBatches()
}

// SinkFunc adapts a function to Sink, the way StatBuffer's handle_flush
// and DataBuffer's handle_flush are plain callbacks.
type SinkFunc func(ctx context.Context, b Batch) error

// Flush calls f.
func (f SinkFunc) Flush(ctx context.Context, b Batch) error { return f(ctx, b) }

var _ Sink = SinkFunc(nil)
