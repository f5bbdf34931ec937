package resp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Negative limits and timeouts are refused: Serve returns at once.
func TestServeRefusesNegativeLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"max conns", Config{MaxConns: -1}},
		{"idle timeout", Config{IdleTimeout: -time.Second}},
		{"command timeout", Config{CommandTimeout: -time.Second}},
		{"handshake timeout", Config{HandshakeTimeout: -time.Second}},
		{"max buffered bytes", Config{MaxBufferedBytes: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate: %v; want ErrInvalidConfig", err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			s := New(ln, newMemNode(), tc.cfg)
			defer s.Close()
			if err := s.Serve(); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Serve: %v; want ErrInvalidConfig", err)
			}
		})
	}
	if err := (&Config{}).Validate(); err != nil {
		t.Fatalf("the zero Config: %v", err)
	}
}

// dialPing opens a connection and checks that it is served.
func dialPing(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := r.ReadString('\n'); err != nil || line != "+PONG\r\n" {
		t.Fatalf("PING: %q, %v", line, err)
	}
	return c, r
}

// A connection over MaxConns is told so and closed at once; once one
// leaves, a new one is served.
func TestMaxConnsRefusesOneMore(t *testing.T) {
	s, addr, logs := serve(t, newMemNode(), Config{MaxConns: 2})
	first, _ := dialPing(t, addr)
	dialPing(t, addr)
	if got := exchange(t, addr, "PING\r\n"); got != "-ERR max number of clients reached\r\n" {
		t.Fatalf("the third connection got %q; want it refused", got)
	}
	if len(logs.matching("too many connections")) == 0 {
		t.Fatal("the refusal was not logged")
	}
	if st := s.Stats(); st.Refused != 1 || st.Clients != 2 || st.Accepted != 2 {
		t.Fatalf("stats %+v; want 2 clients accepted, 1 refused", st)
	}
	_ = first.Close()
	waitFor(t, "the first connection gone", func() bool { return s.clients() == 1 })
	dialPing(t, addr)
}

// A connection silent for IdleTimeout is closed; one that keeps talking
// is not.
func TestIdleConnectionIsClosed(t *testing.T) {
	const idle = 300 * time.Millisecond
	_, addr, _ := serve(t, newMemNode(), Config{IdleTimeout: idle})
	start := time.Now() // before the silent one's PING: the server's idle clock starts after it
	_, r := dialPing(t, addr)
	busy, busyR := dialPing(t, addr)
	// The busy one pings until the silent one is hung up on: more than
	// idle, each ping well within it.
	closed := make(chan error, 1)
	go func() {
		_, err := r.ReadByte()
		closed <- err
	}()
	for done := false; !done; {
		select {
		case err := <-closed:
			if err != io.EOF {
				t.Fatalf("the silent connection: %v; want EOF", err)
			}
			done = true
		case <-time.After(idle / 10):
			if _, err := busy.Write([]byte("PING\r\n")); err != nil {
				t.Fatalf("the busy connection was closed: %v", err)
			}
			if line, err := busyR.ReadString('\n'); err != nil || line != "+PONG\r\n" {
				t.Fatalf("the busy connection: %q, %v", line, err)
			}
		}
	}
	if d := time.Since(start); d < idle {
		t.Fatalf("the silent connection was closed after %s; want at least %s", d, idle)
	}
}

// A command that does not arrive whole within CommandTimeout of its first
// byte gets its connection closed and a log line, however long IdleTimeout.
func TestSlowCommandIsCutOff(t *testing.T) {
	const timeout = 300 * time.Millisecond
	s, addr, logs := serve(t, newMemNode(), Config{CommandTimeout: timeout, IdleTimeout: time.Hour})
	c, r := dialPing(t, addr)
	start := time.Now()
	if _, err := c.Write([]byte("*2\r\n$4\r\nECHO\r\n$10\r\nabc")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("read: %v; want EOF", err)
	}
	if d := time.Since(start); d < timeout {
		t.Fatalf("cut off after %s; want at least %s", d, timeout)
	}
	waitFor(t, "the timeout logged", func() bool { return len(logs.matching("did not arrive in time")) > 0 })
	if n := s.Stats().TimedOut; n != 1 {
		t.Fatalf("%d timeouts counted; want 1", n)
	}
}

// A client that stops reading its replies is hung up on once they have
// waited about CommandTimeout (an eighth more at most, and the time the
// buffers took to fill) to be written, with a log line.
func TestUnreadRepliesAreCutOff(t *testing.T) {
	const timeout = 300 * time.Millisecond
	s, addr, logs := serve(t, newMemNode(), Config{CommandTimeout: timeout, IdleTimeout: time.Hour})
	c, _ := dialPing(t, addr)
	// Pipelines of 1 MiB echoes, never read: the socket buffers fill, then
	// the server's write waits.
	echo := bulk("ECHO", 1<<20)
	start := time.Now()
	wrote := make(chan error, 1)
	go func() {
		for {
			if _, err := c.Write(echo); err != nil {
				wrote <- err
				return
			}
		}
	}()
	waitFor(t, "the timeout counted", func() bool { return s.Stats().TimedOut == 1 })
	d := time.Since(start)
	if d < timeout {
		t.Fatalf("cut off after %s; want at least %s", d, timeout)
	}
	if d > 10*timeout {
		t.Fatalf("cut off after %s; want about %s", d, timeout)
	}
	if len(logs.matching("did not read its replies in time")) == 0 {
		t.Fatal("no log line says why")
	}
	_ = c.Close()
	<-wrote
}

// Hundreds of malformed requests write about one log line a second, not
// one each; every client is still told what was wrong.
func TestMalformedRequestLogIsRateLimited(t *testing.T) {
	s, addr, logs := serve(t, newMemNode(), Config{})
	start := time.Now()
	for range 300 {
		if got := exchange(t, addr, "*1\r\n:1\r\n"); got != "-ERR Protocol error: expected '$', got ':'\r\n" {
			t.Fatalf("reply %q", got)
		}
	}
	lines := logs.matching("resp malformed request")
	if max := 1 + int(time.Since(start)/time.Second); len(lines) == 0 || len(lines) > max {
		t.Fatalf("%d lines for 300 malformed requests in %s; want 1 to %d", len(lines), time.Since(start), max)
	}
	if n := s.Stats().Malformed; n != 300 {
		t.Fatalf("%d malformed counted; want 300", n)
	}
}

// heapAlloc returns the bytes of live heap objects, after collecting.
func heapAlloc() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// bulk returns a command of name with one bulk argument of n bytes.
func bulk(name string, n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*2\r\n$%d\r\n%s\r\n$%d\r\n", len(name), name, n)
	b.Write(bytes.Repeat([]byte{'x'}, n))
	b.WriteString("\r\n")
	return b.Bytes()
}

// Connections that each sent one large command and then fell silent do
// not each keep a large buffer: 16 connections echoing 8 MiB leave the
// heap about where it was, and the budget whole.
func TestLargeCommandLeavesNoLargeBuffer(t *testing.T) {
	s, addr, _ := serve(t, newMemNode(), Config{})
	const conns, size = 16, 8 << 20
	req := bulk("ECHO", size)
	replyLen := int64(len(fmt.Sprintf("$%d\r\n", size)) + size + 2)
	before := heapAlloc()
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for range conns {
		c, _ := dialPing(t, addr)
		wg.Go(func() {
			if _, err := c.Write(req); err != nil {
				errs <- err
				return
			}
			if n, err := io.CopyN(io.Discard, c, replyLen); err != nil {
				errs <- fmt.Errorf("reply: %d bytes, %w", n, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitFor(t, "the budget given back", func() bool { return s.budget.available() == DefaultMaxBufferedBytes })
	after := heapAlloc()
	runtime.KeepAlive(req) // counted in both
	t.Logf("heap: %d KiB before, %d KiB with %d idle connections after 8 MiB commands", before>>10, after>>10, conns)
	if after-before > 8<<20 {
		t.Fatalf("the heap grew by %d MiB and stays so; want the large buffers given back", (after-before)>>20)
	}
}

// Many connections each sending most of a large command, and then
// nothing, hold no more of the heap than the budget: within 64 MiB of the
// idle heap. A go-redis client is served meanwhile, and every byte comes
// back to the budget once the server closes.
func TestSlowLargeCommandsStayWithinBudget(t *testing.T) {
	const conns, sent = 1000, 256 << 10 // 250 MiB offered, 8 MiB announced each
	s, addr, _ := serve(t, newMemNode(), Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	if err := rdb.Set(ctx, "users:before", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	idle := heapAlloc()

	payload := append([]byte(nil), bulk("ECHO", 8<<20)[:sent]...)
	var wg sync.WaitGroup
	attackers := make([]net.Conn, 0, conns)
	defer func() {
		for _, c := range attackers {
			_ = c.Close()
		}
		wg.Wait()
	}()
	for range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		attackers = append(attackers, c)
		// The write stops once the server stops reading; closing the
		// connection ends it.
		wg.Go(func() { _, _ = c.Write(payload) })
	}
	waitFor(t, "every connection accepted and the budget spent", func() bool {
		return s.clients() == conns+1 && s.budget.available() < 1<<20
	})
	attacked := heapAlloc()
	if st := s.Stats(); st.BufferedBytes < DefaultMaxBufferedBytes-1<<20 {
		t.Fatalf("stats %+v; want the budget spent", st)
	}
	t.Logf("heap: %d MiB idle, %d MiB with %d connections holding %d KiB each of an 8 MiB command (%d MiB offered); budget left %d KiB",
		idle>>20, attacked>>20, conns, sent>>10, conns*sent>>20, s.budget.available()>>10)
	if attacked-idle > 64<<20 {
		t.Fatalf("the heap grew by %d MiB; want at most 64", (attacked-idle)>>20)
	}
	for i := range 10 {
		key := fmt.Sprintf("users:k%d", i)
		if err := rdb.Set(ctx, key, i, 0).Err(); err != nil {
			t.Fatalf("SET during the attack: %v", err)
		}
		if n, err := rdb.Incr(ctx, "pv:k").Result(); err != nil || n != int64(i+1) {
			t.Fatalf("INCR during the attack: %d, %v", n, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if left := s.budget.available(); left != DefaultMaxBufferedBytes {
		t.Fatalf("after Close the budget has %d bytes; want all %d back", left, DefaultMaxBufferedBytes)
	}
}

// Large commands arriving together take turns within a small budget
// rather than wait for each other for ever, and one larger than the
// budget allows is refused.
func TestLargeCommandsTakeTurns(t *testing.T) {
	const budget = 1 << 20
	_, addr, _ := serve(t, newMemNode(), Config{MaxBufferedBytes: budget, CommandTimeout: 20 * time.Second})
	const conns, size = 8, 900 << 10
	req := bulk("ECHO", size)
	replyLen := int64(len(fmt.Sprintf("$%d\r\n", size)) + size + 2)
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for range conns {
		c, _ := dialPing(t, addr)
		wg.Go(func() {
			if _, err := c.Write(req); err != nil {
				errs <- err
				return
			}
			if n, err := io.CopyN(io.Discard, c, replyLen); err != nil {
				errs <- fmt.Errorf("reply: %d bytes, %w", n, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := exchange(t, addr, string(bulk("ECHO", budget+smallBuf)))
	if !strings.HasPrefix(got, "-ERR Protocol error: a command of more than") {
		t.Fatalf("a command over the budget: %.80q; want it refused", got)
	}
}
