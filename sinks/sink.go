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
}

// Count is a counter key's delta since its last flush.
type Count struct {
	Key   string
	Count int64
}

// Values are a buffer key's values since its last flush, oldest first.
type Values struct {
	Key    string
	Values [][]byte
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

// SinkFunc adapts a function to Sink, the way StatBuffer's handle_flush
// and DataBuffer's handle_flush are plain callbacks.
type SinkFunc func(ctx context.Context, b Batch) error

// Flush calls f.
func (f SinkFunc) Flush(ctx context.Context, b Batch) error { return f(ctx, b) }

var _ Sink = SinkFunc(nil)
