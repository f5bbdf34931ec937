// Package lifecycle is the life of a node as one state value that only
// moves forward, and the goroutines that must end with it: starting,
// serving, leaving (announced, still applying ops), stopping (refusing new
// ops, flushing), stopped. No network, no I/O: the node drives it.
//
//	var l lifecycle.Lifecycle = lifecycle.New()
//	l.Serve()
//	l.Go(loop)                 // false once stopping
//	if first, _ := l.Stop(false); first { ...; l.EndBackground(); ...; l.Finish() }
package lifecycle

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// State is where a node is in its life.
type State int32

const (
	Starting State = iota // ports bound; not serving yet
	Serving               // serving
	Leaving               // announced as leaving; still applies ops until it stops
	Stopping              // refuses new ops; flushing and stopping
	Stopped               // stopped
)

// Lifecycle holds a node's state and the goroutines that end with it. Safe
// for concurrent use; create it with New.
type Lifecycle struct {
	// mu guards the changes of state, left, background's closing and
	// wg.Add; state can be read without it.
	mu         sync.Mutex
	state      atomic.Int32
	left       bool          // the stop under way is a graceful leave
	background chan struct{} // closed when background work must end
	done       chan struct{} // closed when the stop has finished
	wg         sync.WaitGroup
}

// New returns a Lifecycle in Starting.
func New() *Lifecycle {
	return &Lifecycle{background: make(chan struct{}), done: make(chan struct{})}
}

// State is the current state.
func (l *Lifecycle) State() State { return State(l.state.Load()) }

// Refusing reports whether new ops are refused (stopping or stopped).
func (l *Lifecycle) Refusing() bool { return l.State() >= Stopping }

// Serve moves from Starting to Serving.
func (l *Lifecycle) Serve() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.State() == Starting {
		l.state.Store(int32(Serving))
	}
}

// Leave starts a graceful leave. It returns true for the caller that must
// carry it out; otherwise the state it found, and whether the stop under
// way (if any) is a leave.
func (l *Lifecycle) Leave() (first bool, was State, left bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	was, left = l.State(), l.left
	if was <= Serving {
		l.state.Store(int32(Leaving))
		l.left = true
		return true, was, true
	}
	return false, was, left
}

// Stop starts stopping: new ops are refused from now on. It returns true
// for the caller that must carry the stop out (then call EndBackground and
// Finish); a later caller gets false and waits with Wait.
func (l *Lifecycle) Stop(leave bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.State() >= Stopping {
		return false
	}
	l.state.Store(int32(Stopping))
	l.left = l.left || leave
	return true
}

// Go runs f on a goroutine that Finish's caller waits for (WaitGroup). It
// returns false, without running f, once background work must end.
func (l *Lifecycle) Go(f func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Ending() {
		return false
	}
	l.wg.Go(f)
	return true
}

// Background is closed when background work must end.
func (l *Lifecycle) Background() <-chan struct{} { return l.background }

// Ending reports whether background work must end.
func (l *Lifecycle) Ending() bool {
	select {
	case <-l.background:
		return true
	default:
		return false
	}
}

// EndBackground tells background goroutines to end; Go starts no more.
func (l *Lifecycle) EndBackground() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.Ending() {
		close(l.background)
	}
}

// WaitGoroutines waits for the goroutines Go started, or for ctx.
func (l *Lifecycle) WaitGoroutines(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for goroutines: %w", ctx.Err())
	}
}

// Finish marks the stop as done: Stopped, and Done closed.
func (l *Lifecycle) Finish() {
	l.state.Store(int32(Stopped))
	close(l.done)
}

// Done is closed once the stop has finished.
func (l *Lifecycle) Done() <-chan struct{} { return l.done }

// Wait waits until the stop has finished, or ctx ends.
func (l *Lifecycle) Wait(ctx context.Context) error {
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the stop in progress: %w", ctx.Err())
	}
}
