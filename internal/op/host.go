package op

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/sinks"
)

// Journal is the node's write-ahead log as a store sees it.
type Journal interface {
	// Append writes o, the op numbered seq in partition p of its store, to
	// the log. It is called under the partition's lock, so records are in
	// sequence order per partition. done is called exactly once when the
	// record is durable (written; fsynced if the log syncs each write) or
	// could not be written; it is never called when Append returns an
	// error. It does not keep o.
	Append(o *Op, p int, seq uint64, done Done) error
	// Settled is told that the ops of store in ranges left memory: the
	// sink has them or they are in the dead-letter. The log drops what it
	// no longer needs.
	Settled(store string, ranges []sinks.Range)
}

// Done is told, exactly once, how a write to a journal ended: nil once
// the record is durable, otherwise why it is not. It must not block. An
// interface, not a func, so that the object waiting for a write is the
// callback itself: no closure is allocated per op.
type Done interface{ Done(err error) }

// DoneFunc is a func as a Done.
type DoneFunc func(err error)

// Done calls f.
func (f DoneFunc) Done(err error) { f(err) }

// Log writes the op being applied, numbered seq in its partition, to its
// store's journal (see Host.Write); an error leaves the op unapplied.
type Log interface{ Log(seq uint64) error }

// LogFunc is a func as a Log.
type LogFunc func(seq uint64) error

// Log calls f.
func (f LogFunc) Log(seq uint64) error { return f(seq) }

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
	// Origin names the log this incarnation of the node writes: its name
	// and an incarnation number new at each start ("n1.7"). Every op
	// applied here gets a position (Origin, store, partition, seq).
	Origin string
	// BatchID returns the ID of a batch of store holding ranges: the same
	// ranges always make the same ID.
	BatchID func(store string, ranges []sinks.Range) string
	// Journal writes a store's ops to the node's write-ahead log before
	// they are acknowledged (ack = "wal"); nil for a store that
	// acknowledges in memory.
	Journal Journal
	// Logger is the store's logger.
	Logger hclog.Logger
	// Owns reports whether this node owns partition p in its ring now;
	// nil: never (a node with no ring).
	Owns func(p int) bool
}

// Batch starts a batch of store holding ranges of this node's ops, with
// its ID and origin set.
func (h Host) Batch(store string, kind sinks.Kind, ranges []sinks.Range) sinks.Batch {
	return sinks.Batch{
		ID: h.BatchID(store, ranges), Store: store, Kind: kind, Node: h.Node, Time: time.Now(),
		Origin: h.Origin, Ranges: ranges,
	}
}

// Settle accounts for a batch that left memory: its ops are no longer
// exposed, and the journal may drop them.
func (h Host) Settle(b sinks.Batch, ops int64) {
	h.Exposed.Add(-ops)
	if h.Journal != nil {
		h.Journal.Settled(b.Store, b.Ranges)
	}
}

// Write applies a write op, o on partition p, through add, which gives it
// its sequence number and calls log (nil for a store without a journal)
// with it under the partition's lock before applying it, and returns what
// the key holds after it (a counter's count, a buffer's values): the
// result's Count. Without a journal the op is done at once (true); with
// one, done gets its outcome once the log has it (false), and a nil done
// applies nothing. An error of add (nothing applied) is the op's result.
func (h *Host) Write(o *Op, p int, done func(Result), add func(log Log) (int64, error)) (Result, bool) {
	j := h.Journal
	if j != nil && done == nil {
		return Result{}, false
	}
	// Counted as exposed before it is visible to a flush, so the count
	// never goes below what is held.
	h.Exposed.Add(1)
	var log Log // nil, not a nil *logged, without a journal
	var w *logged
	if j != nil {
		w = &logged{j: j, o: o, p: p, done: done}
		w.left.Store(2)
		log = w
	}
	held, err := add(log)
	if err != nil {
		h.Exposed.Add(-1)
		return Failed(err), true
	}
	if w == nil {
		return Result{Count: held}, true
	}
	w.r.Count = held
	w.finish()
	return Result{}, false
}

// logged is a write waiting for both its log record and its application:
// the record may be durable before add returns what the key holds. It is
// the op's Log and the journal's Done: one allocation per logged op.
type logged struct {
	left atomic.Int32 // 2: the log's answer and add's return
	r    Result
	done func(Result)
	j    Journal
	o    *Op
	p    int
}

// Log appends the op to the journal as seq.
func (w *logged) Log(seq uint64) error { return w.j.Append(w.o, w.p, seq, w) }

// Done takes the log's outcome: a record that could not be written
// leaves the op applied in memory, so its outcome is unknown
// (errs.ErrIndeterminate).
func (w *logged) Done(err error) {
	if err != nil {
		w.r.Err = fmt.Errorf("%w: write-ahead log: %w", errs.ErrIndeterminate, err)
	}
	w.finish()
}

func (w *logged) finish() {
	if w.left.Add(-1) == 0 {
		if w.r.Err != nil {
			w.done(Failed(w.r.Err))
			return
		}
		w.done(w.r)
	}
}
