package flush_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/internal/flush"
	"github.com/hoard-dev/hoard/sinks"
)

// source is a Source of counter batches queued by add, one per Take.
type source struct {
	// mu guards every field.
	mu      sync.Mutex
	queue   [][]sinks.Count
	seq     int
	held    int64 // ops taken and not settled
	takes   []flush.Mode
	only    [][]int
	settled []string
}

var _ flush.Source = (*source)(nil)

// add queues a batch with one count per key, for the next Take.
func (s *source) add(keys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cs []sinks.Count
	for _, k := range keys {
		cs = append(cs, sinks.Count{Key: k, Count: 1})
	}
	s.queue = append(s.queue, cs)
}

func (s *source) Take(mode flush.Mode, only []int) (flush.Pending, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.takes = append(s.takes, mode)
	s.only = append(s.only, only)
	if len(s.queue) == 0 {
		return flush.Pending{}, false
	}
	cs := s.queue[0]
	s.queue = s.queue[1:]
	s.seq++
	b := sinks.Batch{
		ID: fmt.Sprintf("n1.b00t.%010d", s.seq), Store: "pageviews", Kind: sinks.KindCounter,
		Node: "n1", Time: time.Now(), Counts: cs,
	}
	s.held += int64(len(cs))
	return flush.Pending{Batch: b, Ops: int64(len(cs)), Bytes: int64(10 * len(cs))}, true
}

func (s *source) Settle(pb flush.Pending) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held -= pb.Ops
	s.settled = append(s.settled, pb.Batch.ID)
}

// state returns the ops held and the IDs settled so far.
func (s *source) state() (held int64, settled []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held, append([]string(nil), s.settled...)
}

func (s *source) takeCalls() ([]flush.Mode, [][]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]flush.Mode(nil), s.takes...), append([][]int(nil), s.only...)
}

// id is the ID the source gives its n-th batch.
func id(n int) string { return fmt.Sprintf("n1.b00t.%010d", n) }

// env is a pipeline over a source, with its dead-letter in a temp dir.
type env struct {
	p   *flush.Pipeline
	src *source
	dl  *flush.DeadLetters
	dir string // the dead-letter root
}

// newEnv returns a pipeline of store "pageviews" that retries 3 times 1ms
// apart, each attempt bounded by a second; edit changes that first.
func newEnv(t *testing.T, sink sinks.Sink, edit func(*flush.Config)) *env {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "deadletter")
	e := &env{src: &source{}, dl: flush.NewDeadLetters(dir), dir: dir}
	cfg := flush.Config{
		Store: "pageviews", Sink: sink, RetryMax: 3, RetryDelay: time.Millisecond,
		FlushTimeout: time.Second, DeadLetters: e.dl, Logger: testLogger(t),
	}
	if edit != nil {
		edit(&cfg)
	}
	e.p = flush.New(cfg, e.src)
	return e
}

// letters returns the store's dead letters, failing the test on an error.
func (e *env) letters(t *testing.T) []flush.Letter {
	t.Helper()
	ls, _, err := e.dl.List("pageviews")
	if err != nil {
		t.Fatalf("dead letters: %v", err)
	}
	return ls
}

// testLogger sends logs to t.Log.
func testLogger(t *testing.T) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "flush", Level: hclog.Debug, Output: logWriter{t}})
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitFor fails the test unless cond becomes true within 2 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// hangingSink blocks every call until release is closed, ignoring ctx as a
// misbehaving sink does; entered gets a value as each call starts.
type hangingSink struct {
	entered chan string
	release chan struct{}
}

func newHangingSink() *hangingSink {
	return &hangingSink{entered: make(chan string, 16), release: make(chan struct{})}
}

func (h *hangingSink) Flush(ctx context.Context, b sinks.Batch) error {
	h.entered <- b.ID
	<-h.release
	return nil
}

// holdLock starts a flush of one batch that hangs in the sink, and returns
// once the sink has it; the returned func releases it and waits for the
// flush to end.
func holdLock(t *testing.T, e *env, h *hangingSink) (release func()) {
	t.Helper()
	e.src.add("held")
	done := make(chan error, 1)
	go func() {
		_, err := e.p.Flush(context.Background(), flush.All, nil)
		done <- err
	}()
	select {
	case <-h.entered:
	case <-time.After(2 * time.Second):
		close(h.release)
		t.Fatal("the hanging flush never reached the sink")
	}
	return func() {
		close(h.release)
		if err := <-done; err != nil {
			t.Errorf("hanging flush: %v", err)
		}
	}
}

var errUnavailable = errors.New("503 service unavailable")
