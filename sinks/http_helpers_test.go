package sinks_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/sinks"
)

var (
	httpCounters = sinks.Batch{ID: "n1.ab.1", Store: "pageviews", Kind: sinks.KindCounter, Node: "n1", Time: when,
		Counts: []sinks.Count{{Key: "/home", Count: 42}, {Key: "/neg", Count: -3}}}
	httpBuffers = sinks.Batch{ID: "n1.ab.2", Store: "events", Kind: sinks.KindBuffer, Node: "n1", Time: when,
		Values: []sinks.Values{
			{Key: "u1", Values: [][]byte{[]byte("a"), []byte("wörld <&>")}},
			{Key: "bin", Values: [][]byte{{0xff, 0x00}, []byte("ok")}},
			{Key: "none"},
		}}
)

// request is what a test server received.
type request struct {
	method string
	path   string
	host   string
	header http.Header
	body   []byte
}

// recorder is a test server that records each request and answers with
// the handler set by answer (default: 200).
type recorder struct {
	srv *httptest.Server

	// mu guards reqs and reply.
	mu    sync.Mutex
	reqs  []request
	reply http.HandlerFunc
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading request body: %v", err)
		}
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, request{method: r.Method, path: r.URL.Path, host: r.Host, header: r.Header.Clone(), body: body})
		reply := rec.reply
		rec.mu.Unlock()
		if reply != nil {
			reply(w, r)
		}
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

// answer makes the server answer with status, headers and body.
func (rec *recorder) answer(status int, header map[string]string, body string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.reply = func(w http.ResponseWriter, _ *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func (rec *recorder) requests() []request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]request(nil), rec.reqs...)
}

// last returns the only request the server received.
func (rec *recorder) only(t *testing.T) request {
	t.Helper()
	reqs := rec.requests()
	if len(reqs) != 1 {
		t.Fatalf("server received %d requests, want 1", len(reqs))
	}
	return reqs[0]
}

// hangingServer answers nothing until the client gives up or the test
// ends. arrived receives a value for each request that came in.
func hangingServer(t *testing.T) (srv *httptest.Server, arrived <-chan struct{}) {
	t.Helper()
	release := make(chan struct{})
	in := make(chan struct{}, 16)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first
	return srv, in
}

// newHTTPSink returns a sink for cfg, closed at cleanup.
func newHTTPSink(t *testing.T, cfg sinks.HTTPConfig) *sinks.HTTP {
	t.Helper()
	h, err := sinks.NewHTTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// testLog is an hclog.Logger writing to t.Log that also keeps what it
// wrote.
type testLog struct {
	t *testing.T

	// mu guards buf.
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	l.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newTestLog(t *testing.T) (*testLog, hclog.Logger) {
	l := &testLog{t: t}
	return l, hclog.New(&hclog.LoggerOptions{Name: t.Name(), Output: l, Level: hclog.Debug})
}
