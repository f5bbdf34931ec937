package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"
)

// waitTimeout bounds every wait for a condition in these tests.
const waitTimeout = 10 * time.Second

// waitFor checks cond until it returns nil, and fails the test with what and
// cond's last error if that has not happened after timeout. It is
// testcluster.WaitFor, which this package cannot import (testcluster
// imports transport through node).
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	interval := time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
			return
		}
		time.Sleep(interval) // poll interval, not synchronisation
		interval = min(2*interval, 20*time.Millisecond)
	}
}

// recv receives from ch, failing the test after waitTimeout.
func recv[T any](t testing.TB, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out after %s waiting for %s", waitTimeout, what)
		panic("unreachable")
	}
}

// checkLeaks fails the test if, once its cleanups have run, goroutines are
// running that were not when checkLeaks was called. Call it first in a test
// so its cleanup runs last. Tests in this package do not run in parallel, so
// the new goroutines are the test's own. (TestMain checks the whole package
// too; this names the test that leaked.)
func checkLeaks(t testing.TB) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
}

// logWriter sends log lines to t.Log until the test's cleanups run.
type logWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func testLogger(t testing.TB) hclog.Logger {
	w := &logWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return hclog.New(&hclog.LoggerOptions{Name: t.Name(), Output: w, Level: hclog.Debug})
}

// testConfig returns a config for cluster "test" that logs to t.
func testConfig(t testing.TB, name string) *Config {
	return &Config{Cluster: "test", Name: name, Logger: testLogger(t)}
}

// startServer listens on a loopback port and closes the server at cleanup.
func startServer(t testing.TB, cfg *Config, h Handler) *Server {
	t.Helper()
	if cfg == nil {
		cfg = testConfig(t, "server")
	}
	s, err := Listen("127.0.0.1:0", cfg, h)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// dial connects to s and closes the connection at cleanup.
func dial(t testing.TB, s *Server, cfg *Config) *Conn {
	t.Helper()
	if cfg == nil {
		cfg = testConfig(t, "client")
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := Dial(ctx, s.Addr().String(), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// ctxTimeout returns a context that ends after waitTimeout.
func ctxTimeout(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// mux routes requests by method, like the node's dispatcher will.
type mux map[string]HandlerFunc

func (m mux) ServeRPC(req *Request, r Reply) {
	h, ok := m[req.Method]
	if !ok {
		r.Send(nil, NewError("unknown_method", fmt.Errorf("no method %q", req.Method)))
		return
	}
	h(req, r)
}

// echoMsg is the body of the "echo" method: the handler answers with it.
type echoMsg struct {
	ID      int    `msgpack:"id"`
	Payload string `msgpack:"payload"`
	Data    []byte `msgpack:"data,omitempty"`
}

func echo(req *Request, r Reply) {
	var m echoMsg
	if err := req.Decode(&m); err != nil {
		r.Send(nil, NewError("bad_request", err))
		return
	}
	r.Send(&m, nil)
}

// rawConn is a hand-driven client connection for feeding a server bytes
// that a Conn would never send.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

// dialRaw connects to s without a handshake.
func dialRaw(t testing.TB, s *Server) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", s.Addr().String(), waitTimeout)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(waitTimeout))
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (rc *rawConn) write(b []byte) {
	rc.t.Helper()
	if _, err := rc.nc.Write(b); err != nil {
		rc.t.Fatalf("raw write: %v", err)
	}
}

// sendHello sends a hello frame carrying hello.
func (rc *rawConn) sendHello(hello Hello) {
	rc.t.Helper()
	body, err := encodeBody(nil, hello)
	if err != nil {
		rc.t.Fatal(err)
	}
	rc.write(appendFrame(nil, &header{Kind: kindHello}, body))
}

// readFrame reads and decodes one frame.
func (rc *rawConn) readFrame() (header, []byte, error) {
	buf, err := readFrame(rc.br, DefaultMaxFrameSize)
	if err != nil {
		return header{}, nil, err
	}
	return decodeFrame(buf)
}

// handshake performs a valid client handshake.
func (rc *rawConn) handshake(cluster string) {
	rc.t.Helper()
	rc.sendHello(Hello{Protocol: ProtocolVersion, Cluster: cluster, Name: "raw"})
	h, _, err := rc.readFrame()
	if err != nil {
		rc.t.Fatalf("reading the server's hello: %v", err)
	}
	if h.Kind != kindHello || h.Code != "" {
		rc.t.Fatalf("server's hello: %+v", h)
	}
}

// expectClosed asserts the server closes the connection without sending
// anything more: the next read is EOF.
func (rc *rawConn) expectClosed() {
	rc.t.Helper()
	var buf [512]byte
	n, err := rc.br.Read(buf[:])
	if n != 0 || !errors.Is(err, io.EOF) {
		rc.t.Fatalf("read after the bad frame: %d bytes %q, %v; want EOF", n, buf[:n], err)
	}
}
