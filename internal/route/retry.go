package route

import (
	"context"
	"sync"
	"time"
)

// retryQueue holds the ops that an owner refused or that could not be
// sent, until they are routed again: when the ring changes, after a backoff
// that grows with each attempt, or at their deadline. One goroutine serves
// the whole node, with one timer, whatever the number of ops waiting.
type retryQueue struct {
	r    *Router
	wake chan struct{} // capacity 1: an op was added or a caller gave up

	// mu guards waiting and stopped.
	mu      sync.Mutex
	waiting []*retrying
	stopped bool // the loop has ended: ops are routed at once
}

// retrying is an op waiting in the queue.
type retrying struct {
	c    *Call
	at   time.Time   // when to route it again, ring change or not
	stop func() bool // stops the wake-up on the op's context; nil if none
}

// add queues o, which was just refused or not sent, with a backoff that
// doubles on each attempt (10ms to 1s), never past its deadline.
func (q *retryQueue) add(o *Call) {
	o.attempt++
	r := &retrying{c: o, at: time.Now().Add(backoff(o.attempt))}
	if o.Deadline.Before(r.at) {
		r.at = o.Deadline
	}
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		q.r.Route(o) // the node has stopped: this ends it
		return
	}
	if o.Ctx != nil {
		r.stop = context.AfterFunc(o.Ctx, q.kick)
	}
	q.waiting = append(q.waiting, r)
	q.mu.Unlock()
	q.kick()
}

func (q *retryQueue) kick() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take removes the ops that are due now: their ring moved on, their time
// came, or their context ended. It returns them and the time the next one
// is due (zero if none waits).
func (q *retryQueue) take(ringVer uint64, now time.Time, all bool) ([]*Call, time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var due []*Call
	var next time.Time
	kept := q.waiting[:0]
	for _, r := range q.waiting {
		if all || r.c.ringVer != ringVer || !now.Before(r.at) || (r.c.Ctx != nil && r.c.Ctx.Err() != nil) {
			if r.stop != nil {
				r.stop()
			}
			due = append(due, r.c)
			continue
		}
		kept = append(kept, r)
		if next.IsZero() || r.at.Before(next) {
			next = r.at
		}
	}
	clear(q.waiting[len(kept):])
	q.waiting = kept
	return due, next
}

// loop routes waiting ops again when they are due, until the node stops;
// then it routes what still waits one last time (which ends them: a
// stopped node's forwarders refuse).
func (q *retryQueue) loop() {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		snap, changed := q.r.cfg.Watch()
		var ver uint64
		if snap != nil {
			ver = snap.Version()
		}
		due, next := q.take(ver, time.Now(), false)
		for _, o := range due {
			q.r.Route(o)
		}
		if !next.IsZero() {
			t.Reset(time.Until(next))
		}
		select {
		case <-changed:
		case <-t.C:
		case <-q.wake:
		case <-q.r.cfg.Stop:
			q.mu.Lock()
			q.stopped = true
			q.mu.Unlock()
			due, _ := q.take(ver, time.Now(), true)
			for _, o := range due {
				q.r.Route(o)
			}
			return
		}
	}
}

// Run routes waiting ops again when they are due, until Stop is closed;
// run it on a goroutine the node waits for.
func (r *Router) Run() { r.retries.loop() }

// backoff is the wait before the attempt-th retry: it doubles from 20ms
// and stays at 1s from the seventh on.
func backoff(attempt int) time.Duration {
	return min(time.Duration(1<<min(attempt, 10))*10*time.Millisecond, time.Second)
}
