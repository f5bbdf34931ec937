package transport

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// serverConns is how many connections s holds.
func serverConns(s *Server) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func newTestPool(t *testing.T) *Pool {
	t.Helper()
	p, err := NewPool(testConfig(t, "pool"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func TestPool(t *testing.T) {
	t.Run("same Conn", func(t *testing.T) {
		checkLeaks(t)
		s := startServer(t, nil, HandlerFunc(echo))
		p := newTestPool(t)
		ctx := ctxTimeout(t)
		c1, err := p.Get(ctx, s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			c2, err := p.Get(ctx, s.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			if c2 != c1 {
				t.Fatal("Get returned another Conn for the same address")
			}
		}
		if n := serverConns(s); n != 1 {
			t.Fatalf("server holds %d connections, want 1", n)
		}
	})

	t.Run("redial after a restart", func(t *testing.T) {
		checkLeaks(t)
		s1 := startServer(t, nil, HandlerFunc(echo))
		addr := s1.Addr().String()
		p := newTestPool(t)
		ctx := ctxTimeout(t)
		c1, err := p.Get(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := s1.Close(); err != nil {
			t.Fatal(err)
		}
		recv(t, "the pooled Conn to close", c1.Done())

		s2, err := Listen(addr, testConfig(t, "server2"), HandlerFunc(echo))
		if err != nil {
			t.Fatalf("listening again on %s: %v", addr, err)
		}
		t.Cleanup(func() { _ = s2.Close() })
		c2, err := p.Get(ctx, addr)
		if err != nil {
			t.Fatalf("Get after the restart: %v", err)
		}
		if c2 == c1 {
			t.Fatal("Get returned the closed Conn")
		}
		if c2.Remote().Name != "server2" {
			t.Fatalf("connected to %q, want server2", c2.Remote().Name)
		}
		var resp echoMsg
		if err := c2.Call(ctx, "echo", &echoMsg{ID: 2}, &resp); err != nil || resp.ID != 2 {
			t.Fatalf("Call: %v, %+v", err, resp)
		}
	})

	t.Run("concurrent Gets dial once", func(t *testing.T) {
		checkLeaks(t)
		s := startServer(t, nil, HandlerFunc(echo))
		p := newTestPool(t)
		ctx := ctxTimeout(t)
		const n = 32
		conns := make([]*Conn, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				conns[i], errs[i] = p.Get(ctx, s.Addr().String())
			})
		}
		close(start)
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("Get %d: %v", i, errs[i])
			}
			if conns[i] != conns[0] {
				t.Fatalf("Get %d returned another Conn", i)
			}
		}
		if got := serverConns(s); got != 1 {
			t.Fatalf("server accepted %d connections, want 1", got)
		}
	})

	t.Run("Get after Close", func(t *testing.T) {
		checkLeaks(t)
		s := startServer(t, nil, HandlerFunc(echo))
		p := newTestPool(t)
		ctx := ctxTimeout(t)
		c, err := p.Get(ctx, s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := p.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
		if c.Err() == nil {
			t.Fatal("pooled Conn still open after Pool.Close")
		}
		if _, err := p.Get(ctx, s.Addr().String()); !errors.Is(err, ErrClosed) {
			t.Fatalf("Get after Close: %v, want ErrClosed", err)
		}
	})

	t.Run("failed dial is not kept", func(t *testing.T) {
		checkLeaks(t)
		p := newTestPool(t)
		ctx := ctxTimeout(t)
		// Another process may take the freed port before the server does:
		// then try again with another port, a few times.
		const attempts = 5
		for attempt := 1; ; attempt++ {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			_ = ln.Close() // nothing listens on addr now
			if _, err := p.Get(ctx, addr); err == nil {
				t.Fatal("Get to a closed port succeeded")
			}
			s, err := Listen(addr, testConfig(t, "server"), HandlerFunc(echo))
			if err != nil {
				if attempt == attempts {
					t.Fatalf("port taken between its release and Listen in each of %d attempts; last: %v", attempts, err)
				}
				t.Logf("port %s taken meanwhile (%v); trying another", addr, err)
				continue
			}
			t.Cleanup(func() { _ = s.Close() })
			if _, err := p.Get(ctx, addr); err != nil {
				t.Fatalf("Get once the server is up: %v", err)
			}
			return
		}
	})

	t.Run("waiters dial again when the dialer gives up", func(t *testing.T) {
		checkLeaks(t)
		// The first connection gets no answer to its hello; later ones do.
		var mu sync.Mutex
		accepted := 0 // guarded by mu
		firstHello := make(chan struct{})
		addr := fakeServer(t, false, func(nc net.Conn, br *bufio.Reader) {
			mu.Lock()
			accepted++
			first := accepted == 1
			mu.Unlock()
			if _, err := readFrame(br, DefaultMaxFrameSize); err != nil {
				return
			}
			if first {
				close(firstHello)
				_, _ = io.Copy(io.Discard, br)
				return
			}
			body, _ := encodeBody(nil, Hello{Protocol: ProtocolVersion, Cluster: "test", Name: "fake"})
			_, _ = nc.Write(appendFrame(nil, &header{Kind: kindHello}, body))
			_, _ = io.Copy(io.Discard, br)
		})
		p := newTestPool(t)

		dialerCtx, cancelDialer := context.WithCancel(context.Background())
		defer cancelDialer()
		dialerErr := make(chan error, 1)
		go func() {
			_, err := p.Get(dialerCtx, addr)
			dialerErr <- err
		}()
		recv(t, "the first hello", firstHello)

		waiter := make(chan error, 1)
		go func() {
			_, err := p.Get(ctxTimeout(t), addr)
			waiter <- err
		}()
		waitFor(t, waitTimeout, "the second Get to wait for the first one's dial", func() error {
			if !goroutineWaitingInPoolGet() {
				return errors.New("no goroutine waiting in Pool.Get")
			}
			return nil
		})
		cancelDialer()
		if err := recv(t, "the dialer's Get", dialerErr); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Get: %v, want context.Canceled", err)
		}
		if err := recv(t, "the waiting Get", waiter); err != nil {
			t.Fatalf("waiting Get: %v, want a Conn of its own dial", err)
		}
	})
}

func TestPoolCloseDuringDial(t *testing.T) {
	checkLeaks(t)
	gotHello := make(chan struct{})
	answer := make(chan struct{})
	hungUp := make(chan struct{})
	addr := fakeServer(t, false, func(nc net.Conn, br *bufio.Reader) {
		if _, err := readFrame(br, DefaultMaxFrameSize); err != nil {
			return
		}
		close(gotHello)
		<-answer
		body, _ := encodeBody(nil, Hello{Protocol: ProtocolVersion, Cluster: "test", Name: "fake"})
		_, _ = nc.Write(appendFrame(nil, &header{Kind: kindHello}, body))
		_, _ = io.Copy(io.Discard, br)
		close(hungUp)
	})
	p, err := NewPool(testConfig(t, "pool"))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		c, err := p.Get(ctxTimeout(t), addr)
		if c != nil {
			err = errors.New("Get returned a Conn")
		}
		got <- err
	}()
	recv(t, "the hello", gotHello)
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	waitFor(t, waitTimeout, "the pool to be closed", func() error {
		p.mu.Lock()
		defer p.mu.Unlock()
		if !p.closed {
			return errors.New("the pool is open")
		}
		return nil
	})
	close(answer) // the dial succeeds after Close
	if err := recv(t, "Get", got); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get: %v, want ErrClosed", err)
	}
	if err := recv(t, "Close", closed); err != nil {
		t.Fatalf("Close: %v", err)
	}
	recv(t, "the pool to hang up the dialled connection", hungUp)
}

// goroutineWaitingInPoolGet reports whether some goroutine is in Pool.Get
// waiting for another goroutine's dial.
func goroutineWaitingInPoolGet() bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "transport.(*Pool).Get(") && !strings.Contains(g, "transport.(*Pool).dial(") &&
			strings.Contains(g, "[select") {
			return true
		}
	}
	return false
}

func TestNewPoolInvalidConfig(t *testing.T) {
	if _, err := NewPool(&Config{DialTimeout: -1}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("NewPool: %v, want ErrInvalidConfig", err)
	}
}
