package transport

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/internal/ratelog"
)

// heapBytes returns the live heap after a full collection.
func heapBytes() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

const mib = 1 << 20

// attack opens n raw connections to s, each handshaken, and runs send on
// each from a goroutine of its own. It returns a function that closes them
// and waits for the goroutines.
func attack(t *testing.T, s *Server, n int, send func(i int, nc net.Conn)) (stop func()) {
	t.Helper()
	var wg sync.WaitGroup
	var conns []net.Conn
	for i := range n {
		rc := dialRaw(t, s)
		rc.handshake("")
		_ = rc.nc.SetDeadline(time.Time{})
		conns = append(conns, rc.nc)
		wg.Go(func() { send(i, rc.nc) })
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			for _, nc := range conns {
				_ = nc.Close()
			}
			wg.Wait()
		})
	}
	t.Cleanup(stop)
	return stop
}

// callOK checks that c still answers.
func callOK(t *testing.T, c *Conn, id int) {
	t.Helper()
	var resp echoMsg
	if err := c.Call(ctxTimeout(t), "echo", &echoMsg{ID: id}, &resp); err != nil || resp.ID != id {
		t.Fatalf("Call during the attack: %v, %+v", err, resp)
	}
}

// TestLargePartialFramesHoldBoundedMemory: 30 connections each declare a
// 16 MiB frame and send 15 MiB of it. The in-flight budget (16 MiB) lets
// one read; the others wait unread. The heap stays within 64 MiB of idle,
// clients are served meanwhile, and the memory is returned after.
func TestLargePartialFramesHoldBoundedMemory(t *testing.T) {
	checkLeaks(t)
	const conns, declared, sent = 30, 16 * mib, 15 * mib
	cfg := testConfig(t, "server")
	cfg.FrameTimeout = time.Minute // the attack ends before
	s := startServer(t, cfg, HandlerFunc(echo))
	good := dial(t, s, nil)
	payload := make([]byte, sent) // shared by the attackers, so counted as idle
	idle := heapBytes()

	var wrote atomic.Int32
	stop := attack(t, s, conns, func(_ int, nc net.Conn) {
		if _, err := nc.Write(lengthOnly(declared)); err != nil {
			return
		}
		if _, err := nc.Write(payload); err == nil {
			wrote.Add(1)
		}
	})
	reading := DefaultMaxInFlight / declared // frames the budget lets in at once
	waitFor(t, waitTimeout, "the budget's frames read and the others waiting", func() error {
		st := s.Stats()
		if st.InFlightBytes != int64(reading*declared) || st.FramesWaiting != conns-reading || wrote.Load() < int32(reading) {
			return fmt.Errorf("stats %+v, %d attackers done writing", st, wrote.Load())
		}
		return nil
	})
	var peak uint64
	for i := range 10 {
		peak = max(peak, heapBytes())
		callOK(t, good, i)
		c := dial(t, s, nil)
		callOK(t, c, i)
		_ = c.Close()
	}
	t.Logf("heap: idle %d MiB, peak under attack %d MiB", idle/mib, peak/mib)
	if peak > idle+64*mib {
		t.Fatalf("heap grew from %d MiB to %d MiB under attack", idle/mib, peak/mib)
	}

	stop()
	waitFor(t, waitTimeout, "the attackers' connections closed", func() error {
		if st := s.Stats(); st.Conns != 1 || st.InFlightBytes != 0 || st.FramesWaiting != 0 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
	after := heapBytes()
	t.Logf("heap after the attack: %d MiB", after/mib)
	if after > idle+8*mib {
		t.Fatalf("heap %d MiB after the attack, %d MiB before", after/mib, idle/mib)
	}
	callOK(t, good, 99)
	// A large frame gets the budget back.
	var resp echoMsg
	if err := good.Call(ctxTimeout(t), "echo", &echoMsg{ID: 100, Data: payload[:4*mib]}, &resp); err != nil || len(resp.Data) != 4*mib {
		t.Fatalf("large Call after the attack: %v, %d bytes back", err, len(resp.Data))
	}
	runtime.KeepAlive(payload)
}

// TestFrameLargerThanBudget: a frame larger than MaxInFlight is read when
// nothing else is in flight.
func TestFrameLargerThanBudget(t *testing.T) {
	checkLeaks(t)
	cfg := testConfig(t, "server")
	cfg.MaxInFlight = 256 << 10
	s := startServer(t, cfg, HandlerFunc(echo))
	c := dial(t, s, nil)
	var resp echoMsg
	if err := c.Call(ctxTimeout(t), "echo", &echoMsg{ID: 1, Data: make([]byte, 2*mib)}, &resp); err != nil || len(resp.Data) != 2*mib {
		t.Fatalf("Call: %v, %d bytes back", err, len(resp.Data))
	}
}

// TestSlowFramesTimeOut: 50 connections send a frame's length and then a
// byte every 100ms. The heap stays bounded and every one is closed once
// FrameTimeout has passed since its frame began, while others are served.
func TestSlowFramesTimeOut(t *testing.T) {
	checkLeaks(t)
	const conns, frameTimeout = 50, time.Second
	cfg := testConfig(t, "server")
	cfg.FrameTimeout = frameTimeout
	s := startServer(t, cfg, HandlerFunc(echo))
	good := dial(t, s, nil)
	idle := heapBytes()

	type result struct {
		lived time.Duration
		err   error
	}
	results := make(chan result, conns)
	attack(t, s, conns, func(i int, nc net.Conn) {
		start := time.Now()
		if _, err := nc.Write(lengthOnly(16 * mib)); err != nil {
			results <- result{err: err}
			return
		}
		closed := make(chan error, 1)
		go func() {
			var b [1]byte
			_, err := nc.Read(b[:]) // the server sends nothing: this returns when it closes
			closed <- err
		}()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case err := <-closed:
				results <- result{lived: time.Since(start), err: err}
				return
			case <-tick.C:
				_, _ = nc.Write([]byte{byte(i)})
			}
		}
	})
	var peak uint64
	for i := 0; len(results) < conns && i < 100; i++ {
		peak = max(peak, heapBytes())
		callOK(t, good, i)
		time.Sleep(50 * time.Millisecond) // sampling interval, not synchronisation
	}
	t.Logf("heap: idle %d MiB, peak under attack %d MiB", idle/mib, peak/mib)
	if peak > idle+64*mib {
		t.Fatalf("heap grew from %d MiB to %d MiB under attack", idle/mib, peak/mib)
	}
	for range conns {
		r := recv(t, "an attacker's connection closed", results)
		if r.err == nil {
			t.Fatalf("the server sent a byte to a slow client")
		}
		if r.lived < frameTimeout*9/10 {
			t.Fatalf("slow connection closed after %s, before FrameTimeout %s", r.lived, frameTimeout)
		}
	}
	waitFor(t, waitTimeout, "only the good connection left", func() error {
		if st := s.Stats(); st.Conns != 1 || st.InFlightBytes != 0 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
	callOK(t, good, 1000)
}

// TestIdleConnectionsClosed: 500 handshaken connections that send nothing
// are closed after IdleTimeout; one that keeps calling is not, nor one
// whose request is still being handled, until it too is idle.
func TestIdleConnectionsClosed(t *testing.T) {
	checkLeaks(t)
	const idleConns, idleTimeout = 500, time.Second
	cfg := testConfig(t, "server")
	cfg.IdleTimeout = idleTimeout
	arrived := make(chan Reply, 1)
	s := startServer(t, cfg, mux{
		"echo": echo,
		"hold": func(_ *Request, r Reply) { arrived <- r },
	})

	// A request held by the handler for longer than IdleTimeout.
	holder := dial(t, s, nil)
	held := make(chan error, 1)
	go func() { held <- holder.Call(ctxTimeout(t), "hold", nil, nil) }()
	reply := recv(t, "the held request", arrived)

	// A connection busy with calls more often than IdleTimeout.
	busy := dial(t, s, nil)
	stopBusy := make(chan struct{})
	busyDone := make(chan error, 1)
	go func() {
		tick := time.NewTicker(idleTimeout / 10)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stopBusy:
				busyDone <- nil
				return
			case <-tick.C:
				if err := busy.Call(ctxTimeout(t), "echo", &echoMsg{ID: i}, nil); err != nil {
					busyDone <- err
					return
				}
			}
		}
	}()

	raws := make([]*rawConn, idleConns)
	for i := range raws {
		raws[i] = dialRaw(t, s)
		raws[i].handshake("test")
	}
	waitFor(t, waitTimeout, "the idle connections closed", func() error {
		if n := s.Stats().Conns; n != 2 {
			return fmt.Errorf("%d connections open", n)
		}
		return nil
	})
	for _, rc := range raws {
		rc.expectClosed()
	}
	close(stopBusy)
	if err := recv(t, "the busy caller", busyDone); err != nil {
		t.Fatalf("busy connection: %v", err)
	}
	if busy.Err() != nil || holder.Err() != nil {
		t.Fatalf("busy connections closed: %v, %v", busy.Err(), holder.Err())
	}
	reply.Send(nil, nil)
	if err := recv(t, "the held call", held); err != nil {
		t.Fatalf("held call: %v", err)
	}
	// Answered, it is idle now.
	recv(t, "the answered connection closed", holder.Done())
	if err := holder.Err(); !errors.Is(err, ErrClosed) {
		t.Fatalf("idle connection closed with %v", err)
	}
}

// TestMaxConns: a connection over MaxConns is closed at once; when one
// closes, its slot takes a new one.
func TestMaxConns(t *testing.T) {
	checkLeaks(t)
	cfg := testConfig(t, "server")
	cfg.MaxConns = 3
	s := startServer(t, cfg, HandlerFunc(echo))
	var conns []*Conn
	for range 3 {
		conns = append(conns, dial(t, s, nil))
	}
	rc := dialRaw(t, s)
	start := time.Now()
	rc.expectClosed()
	// At once, not after DialTimeout (5s) without a hello.
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("the connection over the limit closed after %s", elapsed)
	}
	if _, err := Dial(ctxTimeout(t), s.Addr().String(), testConfig(t, "client")); err == nil {
		t.Fatal("Dial over the limit succeeded")
	}
	for i, c := range conns {
		callOK(t, c, i)
	}
	_ = conns[0].Close()
	waitFor(t, waitTimeout, "the closed connection's slot freed", func() error {
		if n := s.Stats().Conns; n != 2 {
			return fmt.Errorf("%d connections open", n)
		}
		return nil
	})
	callOK(t, dial(t, s, nil), 7)
}

// TestPoolRedialsAfterIdleClose: a pooled connection the server closed as
// idle is replaced by the next Get, and calls go on.
func TestPoolRedialsAfterIdleClose(t *testing.T) {
	checkLeaks(t)
	cfg := testConfig(t, "server")
	cfg.IdleTimeout = 200 * time.Millisecond
	s := startServer(t, cfg, HandlerFunc(echo))
	p := newTestPool(t) // the client's IdleTimeout is the default: the server closes first
	ctx := ctxTimeout(t)
	addr := s.Addr().String()
	c1, err := p.Get(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	callOK(t, c1, 1)
	recv(t, "the server closing the idle connection", c1.Done())
	c2, err := p.Get(ctx, addr)
	if err != nil {
		t.Fatalf("Get after the idle close: %v", err)
	}
	if c2 == c1 {
		t.Fatal("Get returned the closed connection")
	}
	callOK(t, c2, 2)
}

// TestPoolRedialsBeforeIdleTimeout: with the server's IdleTimeout, a Pool
// does not hand out a connection idle for more than half of it.
func TestPoolRedialsBeforeIdleTimeout(t *testing.T) {
	checkLeaks(t)
	const idleTimeout = 400 * time.Millisecond
	cfg := testConfig(t, "server")
	cfg.IdleTimeout = idleTimeout
	s := startServer(t, cfg, HandlerFunc(echo))
	pcfg := testConfig(t, "client")
	pcfg.IdleTimeout = idleTimeout
	p, err := NewPool(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	ctx := ctxTimeout(t)
	c1, err := p.Get(ctx, s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	callOK(t, c1, 1)
	waitFor(t, waitTimeout, "c1 idle for half the idle timeout", func() error {
		if !c1.idleFor(idleTimeout / 2) {
			return errors.New("not yet")
		}
		return nil
	})
	c2, err := p.Get(ctx, s.Addr().String())
	if err != nil || c2 == c1 {
		t.Fatalf("Get: %v, same connection %v", err, c2 == c1)
	}
	if c1.Err() == nil {
		t.Fatal("the pool did not close the connection it dropped")
	}
	callOK(t, c2, 2)
}

// TestRateLimitedLogs: thousands of bad connections write a line a second,
// with a count of the lines suppressed.
func TestRateLimitedLogs(t *testing.T) {
	checkLeaks(t)
	cfg := testConfig(t, "server")
	logs := &lineCounter{}
	cfg.Logger = hclogTo(logs)
	s := startServer(t, cfg, HandlerFunc(echo))
	const bad = 300
	start := time.Now()
	for range bad {
		rc := dialRaw(t, s)
		rc.write([]byte("GET / HTTP/1.1\r\n\r\n"))
		rc.expectClosed()
		_ = rc.nc.Close()
	}
	elapsed := time.Since(start)
	// Let the last line of the burst, if any, be suppressed-counted by one
	// more after a second.
	waitFor(t, waitTimeout, "a line reporting suppressed ones", func() error {
		rc := dialRaw(t, s)
		rc.write([]byte("GET / HTTP/1.1\r\n\r\n"))
		rc.expectClosed()
		_ = rc.nc.Close()
		if !strings.Contains(logs.String(), "suppressed=") {
			return errors.New("no line with suppressed=")
		}
		return nil
	})
	lines := logs.count("handshake failed")
	limit := int((time.Since(start))/ratelog.DefaultEvery) + 2
	t.Logf("%d bad connections in %s: %d lines", bad, elapsed, lines)
	if lines > limit {
		t.Fatalf("%d lines for %d bad connections in %s", lines, bad, time.Since(start))
	}
}

// lineCounter collects log output.
type lineCounter struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *lineCounter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lineCounter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *lineCounter) count(substr string) int {
	n := 0
	for line := range strings.Lines(l.String()) {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// hclogTo returns a logger writing to w.
func hclogTo(w io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: w, Level: hclog.Debug})
}

// TestLargeFrameReleasedWhenHandled: a large frame's budget and buffer are
// given back once it is handled, not when the next frame comes.
func TestLargeFrameReleasedWhenHandled(t *testing.T) {
	checkLeaks(t)
	s := startServer(t, nil, HandlerFunc(echo))
	c := dial(t, s, nil)
	idle := heapBytes()
	data := make([]byte, 8*mib)
	var resp echoMsg
	if err := c.Call(ctxTimeout(t), "echo", &echoMsg{ID: 1, Data: data}, &resp); err != nil || len(resp.Data) != len(data) {
		t.Fatalf("Call: %v, %d bytes back", err, len(resp.Data))
	}
	data, resp = nil, echoMsg{}
	// The server gives the budget back once the handler returned, which
	// may be just after the client saw the reply; no other frame comes.
	waitFor(t, waitTimeout, "the frame's budget given back", func() error {
		if st := s.Stats(); st.InFlightBytes != 0 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
	if after := heapBytes(); after > idle+2*mib {
		t.Fatalf("heap %d MiB after an 8 MiB call, %d MiB before", after/mib, idle/mib)
	}
}
