package sinks

import (
	"context"
	"slices"
	"sync"
)

// Memory keeps every batch it receives, for tests and examples. It can be
// made to fail.
type Memory struct {
	// mu guards batches, fail and calls.
	mu      sync.Mutex
	batches []Batch
	fail    func(b Batch) error
	calls   int
	changed chan struct{} // closed and replaced on every accepted batch
}

var _ Sink = (*Memory)(nil)

// NewMemory returns an empty memory sink.
func NewMemory() *Memory { return &Memory{changed: make(chan struct{})} }

// Flush records b, unless the failure function set by FailWith returns an
// error.
func (m *Memory) Flush(ctx context.Context, b Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.fail != nil {
		if err := m.fail(b); err != nil {
			return err
		}
	}
	m.batches = append(m.batches, b)
	close(m.changed)
	m.changed = make(chan struct{})
	return nil
}

// FailWith makes Flush return f's error for each batch (nil f: never fail).
func (m *Memory) FailWith(f func(b Batch) error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = f
}

// Calls is the number of Flush calls, failed ones included.
func (m *Memory) Calls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

// Batches returns the accepted batches in arrival order.
func (m *Memory) Batches() []Batch {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.batches)
}

// Changed returns a channel closed when the next batch is accepted.
func (m *Memory) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

// Counts sums the counts received per key of store.
func (m *Memory) Counts(store string) map[string]int64 {
	out := map[string]int64{}
	for _, b := range m.Batches() {
		if b.Store != store {
			continue
		}
		for _, c := range b.Counts {
			out[c.Key] += c.Count
		}
	}
	return out
}

// Values concatenates the values received per key of store, in arrival
// order.
func (m *Memory) Values(store string) map[string][][]byte {
	out := map[string][][]byte{}
	for _, b := range m.Batches() {
		if b.Store != store {
			continue
		}
		for _, v := range b.Values {
			out[v.Key] = append(out[v.Key], v.Values...)
		}
	}
	return out
}
