package replica

import (
	"sync/atomic"

	"github.com/hoard-dev/hoard/internal/journal"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/ring"
	"github.com/hoard-dev/hoard/sinks"
)

// Log is the op.Journal of a store that acknowledges replicated: an op is
// done once the owner's write-ahead log has it and every backup of its
// partition (the first Replicas of the ring's) holds it. With no backup in
// the ring (a cluster of one) it is done once the log has it.
type Log struct {
	// Journal is the owner's write-ahead log.
	Journal *journal.Journal
	// Sender carries ops and trims to the backups.
	Sender *Sender
	// Ring returns the current ring; nil when the node has none.
	Ring func() *ring.Snapshot
	// Self is this node's name: never its own backup.
	Self string
	// Replicas is the number of backups an op waits for.
	Replicas int
}

var _ op.Journal = (*Log)(nil)

// Append writes o to the owner's log and sends it to the partition's
// backups; done gets the first error, once all have answered.
func (l *Log) Append(o *op.Op, p int, seq uint64, done op.Done) error {
	var backups []ring.Member
	var v uint64
	if snap := l.Ring(); snap != nil {
		backups, v = snap.Backups(p), snap.Version()
	}
	n := 0
	for _, b := range backups {
		if n == l.Replicas {
			break
		}
		if b.Name != l.Self {
			n++
		}
	}
	rec := journal.AppendRecord(nil, o, p, seq)
	answered := newWaiter(int64(1+n), done)
	if err := l.Journal.AppendEncoded(rec, o.Store, p, seq, answered); err != nil {
		return err
	}
	for _, b := range backups {
		if n == 0 {
			break
		}
		if b.Name != l.Self {
			l.Sender.Send(v, b, rec, answered)
			n--
		}
	}
	return nil
}

// Settled lets the log drop the ops of store in ranges and tells every
// other member of the ring, the backups that hold them among them.
func (l *Log) Settled(store string, ranges []sinks.Range) {
	l.Journal.Settled(store, ranges)
	snap := l.Ring()
	if snap == nil {
		return
	}
	others := snap.Members()
	for i := 0; i < len(others); i++ {
		if others[i].Name == l.Self {
			others = append(others[:i], others[i+1:]...)
			break
		}
	}
	l.Sender.Trim(snap.Version(), store, ranges, others)
}

// waiter tells next once, with the first error, when every part of a
// whole has finished: each part tells the waiter.
type waiter struct {
	left  atomic.Int64
	first atomic.Pointer[error]
	next  op.Done
}

func newWaiter(n int64, next op.Done) *waiter {
	w := &waiter{next: next}
	w.left.Store(n)
	return w
}

// Done takes the outcome of one part.
func (w *waiter) Done(err error) {
	if err != nil {
		first := err // only a failure's copy goes to the heap: not err on every call
		w.first.CompareAndSwap(nil, &first)
	}
	if w.left.Add(-1) == 0 {
		var out error
		if e := w.first.Load(); e != nil {
			out = *e
		}
		w.next.Done(out)
	}
}
