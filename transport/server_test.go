package transport

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestServerCloseFailsInFlight(t *testing.T) {
	checkLeaks(t)
	s, arrived, _ := hangServer(t)
	c := dial(t, s, nil)
	ctx := ctxTimeout(t)

	const n = 10
	results := make(chan error, 2*n)
	for range n {
		go func() { results <- c.Call(ctx, "hang", nil, nil) }()
		c.Go(ctx, "hang", 0, nil, nil, func(err error) { results <- err })
	}
	for i := range 2 * n {
		recv(t, fmt.Sprintf("request %d", i), arrived)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for range 2 * n {
		if err := recv(t, "an in-flight call", results); !errors.Is(err, ErrClosed) {
			t.Fatalf("in-flight call: %v, want ErrClosed", err)
		}
	}
	recv(t, "the Conn to close", c.Done())
	if err := c.Err(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Conn.Err() = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := Dial(ctx, s.Addr().String(), testConfig(t, "late")); err == nil {
		t.Fatal("Dial to a closed server succeeded")
	}
}

func TestHandshake(t *testing.T) {
	checkLeaks(t)
	s := startServer(t, nil, HandlerFunc(echo))
	ctx := ctxTimeout(t)

	tests := []struct {
		name    string
		cluster string
		refused bool
	}{
		{"same cluster", "test", false},
		{"any cluster", "", false},
		{"other cluster", "prod", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Dial(ctx, s.Addr().String(), &Config{Cluster: tt.cluster, Logger: testLogger(t)})
			if tt.refused {
				if !errors.Is(err, ErrHandshake) {
					t.Fatalf("Dial: %v, want ErrHandshake", err)
				}
				if c != nil {
					t.Fatal("Dial returned a Conn with its error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.Close()
			if r := c.Remote(); r.Cluster != "test" || r.Name != "server" {
				t.Fatalf("Remote() = %+v", r)
			}
			var resp echoMsg
			if err := c.Call(ctx, "echo", &echoMsg{ID: 1}, &resp); err != nil || resp.ID != 1 {
				t.Fatalf("Call: %v, %+v", err, resp)
			}
		})
	}
}

// frameOf prefixes payload with its length.
func frameOf(payload []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...)
}

// lengthOnly is a length prefix announcing n bytes that never come.
func lengthOnly(n int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }

func TestHandshakeGarbage(t *testing.T) {
	checkLeaks(t)
	s := startServer(t, nil, HandlerFunc(echo))
	good := dial(t, s, nil)
	ctx := ctxTimeout(t)

	tests := []struct {
		name    string
		send    func(rc *rawConn)
		refusal bool // the server answers with a refusing hello before closing
	}{
		{"http request", func(rc *rawConn) { rc.write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")) }, false},
		{"empty frame", func(rc *rawConn) { rc.write(frameOf(nil)) }, false},
		{"garbage header", func(rc *rawConn) { rc.write(frameOf([]byte{0xc1, 0xc1, 0xc1})) }, false},
		{"hello above the hello limit", func(rc *rawConn) { rc.write(lengthOnly(maxHelloSize + 1)) }, false},
		{"request before hello", func(rc *rawConn) {
			rc.write(appendFrame(nil, &header{Kind: kindRequest, ID: 1, Method: "echo"}, mustEncode(t, &echoMsg{})))
		}, false},
		{"hello without a body", func(rc *rawConn) { rc.write(appendFrame(nil, &header{Kind: kindHello}, nil)) }, false},
		{"hello with a bad body", func(rc *rawConn) { rc.write(appendFrame(nil, &header{Kind: kindHello}, []byte{0xc1})) }, false},
		{"other protocol", func(rc *rawConn) { rc.sendHello(Hello{Protocol: ProtocolVersion + 1, Cluster: "test"}) }, true},
		{"other cluster", func(rc *rawConn) { rc.sendHello(Hello{Protocol: ProtocolVersion, Cluster: "prod"}) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, s)
			start := time.Now()
			tt.send(rc)
			if tt.refusal {
				h, _, err := rc.readFrame()
				if err != nil {
					t.Fatalf("reading the refusal: %v", err)
				}
				if h.Kind != kindHello || h.Code == "" {
					t.Fatalf("got %+v, want a refusing hello", h)
				}
			}
			rc.expectClosed()
			// At once, not when the handshake times out (DialTimeout, 5s).
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Fatalf("closed after %s", elapsed)
			}
			// The server goes on serving others, old and new.
			var resp echoMsg
			if err := good.Call(ctx, "echo", &echoMsg{ID: 5}, &resp); err != nil || resp.ID != 5 {
				t.Fatalf("Call on the good Conn: %v, %+v", err, resp)
			}
			c := dial(t, s, nil)
			if err := c.Call(ctx, "echo", &echoMsg{ID: 6}, &resp); err != nil || resp.ID != 6 {
				t.Fatalf("Call on a new Conn: %v, %+v", err, resp)
			}
		})
	}
}

func TestHandshakeTimeout(t *testing.T) {
	checkLeaks(t)
	cfg := testConfig(t, "server")
	cfg.DialTimeout = 100 * time.Millisecond
	s := startServer(t, cfg, HandlerFunc(echo))
	rc := dialRaw(t, s)
	start := time.Now()
	rc.expectClosed() // a client that says nothing is dropped
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("silent client dropped after %s", elapsed)
	}
}

func mustEncode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := encodeBody(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBadFrames(t *testing.T) {
	checkLeaks(t)
	const max = 4096
	cfg := testConfig(t, "server")
	cfg.MaxFrameSize = max
	s := startServer(t, cfg, HandlerFunc(echo))
	good := dial(t, s, nil)
	ctx := ctxTimeout(t)

	// A header with 7 fields whose kind is 258: DecodeUint8 would read 2.
	kind258 := []byte{0x97, 0xcd, 0x01, 0x02, 0x01, 0xa4, 'e', 'c', 'h', 'o', 0x00, 0x00, 0xa0, 0xa0}
	kind258 = append(kind258, mustEncode(t, &echoMsg{})...)

	tests := []struct {
		name  string
		bytes []byte
	}{
		{"length above MaxFrameSize", lengthOnly(max + 1)},
		{"length 4GiB-1", lengthOnly(1<<32 - 1)},
		{"empty frame", frameOf(nil)},
		{"header not an array", frameOf([]byte{0xc1, 0x00})},
		{"header too short", frameOf([]byte{0x93, 0x02, 0x01, 0xa0})},
		{"header truncated", frameOf(appendHeader(nil, &header{Kind: kindRequest, ID: 1, Method: "echo"})[:5])},
		{"unknown kind", appendFrame(nil, &header{Kind: 9, ID: 1, Method: "echo"}, nil)},
		{"kind does not fit a byte", frameOf(kind258)},
		{"response from a client", appendFrame(nil, &header{Kind: kindResponse, ID: 1}, nil)},
		{"second hello", appendFrame(nil, &header{Kind: kindHello}, mustEncode(t, Hello{Protocol: ProtocolVersion}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, s)
			rc.handshake("test")
			rc.write(tt.bytes)
			rc.expectClosed()
			var resp echoMsg
			if err := good.Call(ctx, "echo", &echoMsg{ID: 9}, &resp); err != nil || resp.ID != 9 {
				t.Fatalf("Call on the other Conn: %v, %+v", err, resp)
			}
		})
	}

	t.Run("valid raw request", func(t *testing.T) {
		// The raw client itself is right: the cases above fail for their bytes.
		rc := dialRaw(t, s)
		rc.handshake("")
		rc.write(appendFrame(nil, &header{Kind: kindRequest, ID: 42, Method: "echo"}, mustEncode(t, &echoMsg{ID: 4})))
		h, body, err := rc.readFrame()
		if err != nil || h.Kind != kindResponse || h.ID != 42 || h.Code != "" {
			t.Fatalf("got %+v, %v", h, err)
		}
		var resp echoMsg
		if err := decodeBody(body, &resp); err != nil || resp.ID != 4 {
			t.Fatalf("body: %v, %+v", err, resp)
		}
	})
}

// fakeServer accepts connections on a loopback port and runs serve on each,
// after answering the hello when hello is set. It stops at cleanup.
func fakeServer(t *testing.T, hello bool, serve func(nc net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn // guarded by mu
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, nc := range conns {
			_ = nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Go(func() {
				br := bufio.NewReader(nc)
				if hello {
					if _, err := readFrame(br, DefaultMaxFrameSize); err != nil {
						return
					}
					body, _ := encodeBody(nil, Hello{Protocol: ProtocolVersion, Cluster: "test", Name: "fake"})
					if _, err := nc.Write(appendFrame(nil, &header{Kind: kindHello}, body)); err != nil {
						return
					}
				}
				serve(nc, br)
			})
		}
	})
	return ln.Addr().String()
}

func TestDialFailures(t *testing.T) {
	checkLeaks(t)
	silent := fakeServer(t, false, func(nc net.Conn, br *bufio.Reader) {
		_, _ = io.Copy(io.Discard, br) // reads the hello, answers nothing
	})
	gotHello := make(chan struct{}, 1)
	silentSignal := fakeServer(t, false, func(nc net.Conn, br *bufio.Reader) {
		if _, err := readFrame(br, DefaultMaxFrameSize); err == nil {
			gotHello <- struct{}{}
		}
		_, _ = io.Copy(io.Discard, br)
	})
	garbage := fakeServer(t, false, func(nc net.Conn, br *bufio.Reader) {
		_, _ = readFrame(br, DefaultMaxFrameSize)
		_, _ = nc.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
	})
	request := fakeServer(t, false, func(nc net.Conn, br *bufio.Reader) {
		_, _ = readFrame(br, DefaultMaxFrameSize)
		_, _ = nc.Write(appendFrame(nil, &header{Kind: kindRequest, ID: 1}, nil))
	})
	otherCluster := fakeServer(t, false, func(nc net.Conn, br *bufio.Reader) {
		_, _ = readFrame(br, DefaultMaxFrameSize)
		body, _ := encodeBody(nil, Hello{Protocol: ProtocolVersion, Cluster: "prod"})
		_, _ = nc.Write(appendFrame(nil, &header{Kind: kindHello}, body))
		_, _ = br.ReadByte()
	})

	tests := []struct {
		name        string
		addr        string
		dialTimeout time.Duration
		ctx         func() (context.Context, context.CancelFunc)
		want        error
		within      time.Duration
	}{
		{"garbage answer", garbage, 0, nil, ErrHandshake, waitTimeout},
		{"request instead of hello", request, 0, nil, ErrHandshake, waitTimeout},
		{"server in another cluster", otherCluster, 0, nil, ErrHandshake, waitTimeout},
		{"silent server, ctx deadline", silent, 0, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, context.DeadlineExceeded, 5 * time.Second},
		{"silent server, DialTimeout before a later ctx deadline", silent, 100 * time.Millisecond, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 30*time.Second)
		}, context.DeadlineExceeded, 5 * time.Second},
		{"silent server, ctx cancelled during the handshake", silentSignal, 0, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-gotHello:
					cancel()
				case <-ctx.Done():
				}
			}()
			return ctx, cancel
		}, context.Canceled, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			if tt.ctx != nil {
				ctx, cancel = tt.ctx()
			}
			defer cancel()
			start := time.Now()
			c, err := Dial(ctx, tt.addr, &Config{Cluster: "test", DialTimeout: tt.dialTimeout, Logger: testLogger(t)})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Dial: %v, want %v", err, tt.want)
			}
			if c != nil {
				t.Fatal("Dial returned a Conn with its error")
			}
			if elapsed := time.Since(start); elapsed > tt.within {
				t.Fatalf("Dial returned after %s, want within %s", elapsed, tt.within)
			}
		})
	}
}

// TestConnBadServer checks how a Conn reacts to a server breaking the
// protocol: the connection closes and its calls fail with ErrClosed.
func TestConnBadServer(t *testing.T) {
	checkLeaks(t)
	tests := []struct {
		name  string
		reply func(id uint64) []byte
		cause error // also wrapped by Conn.Err
	}{
		{"oversized frame", func(uint64) []byte { return lengthOnly(DefaultMaxFrameSize + 1) }, ErrFrameTooLarge},
		{"request frame", func(id uint64) []byte { return appendFrame(nil, &header{Kind: kindRequest, ID: id}, nil) }, ErrMalformedFrame},
		{"garbage", func(uint64) []byte { return frameOf([]byte("garbage")) }, ErrMalformedFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fakeServer(t, true, func(nc net.Conn, br *bufio.Reader) {
				buf, err := readFrame(br, DefaultMaxFrameSize)
				if err != nil {
					return
				}
				h, _, err := decodeFrame(buf)
				if err != nil {
					return
				}
				// An answer to nobody is ignored, then the bad frame.
				_, _ = nc.Write(appendFrame(nil, &header{Kind: kindResponse, ID: h.ID + 1000}, nil))
				_, _ = nc.Write(tt.reply(h.ID))
				_, _ = br.ReadByte() // until the client hangs up
			})
			ctx := ctxTimeout(t)
			c, err := Dial(ctx, addr, testConfig(t, "client"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Call(ctx, "x", nil, nil); !errors.Is(err, ErrClosed) || !errors.Is(err, tt.cause) {
				t.Fatalf("Call: %v, want ErrClosed and %v", err, tt.cause)
			}
			recv(t, "Done", c.Done())
			if err := c.Err(); !errors.Is(err, ErrClosed) || !errors.Is(err, tt.cause) {
				t.Fatalf("Err() = %v, want ErrClosed and %v", err, tt.cause)
			}
		})
	}
}

// TestWriteTimeout checks that a peer that stops reading has its connection
// closed after WriteTimeout, failing the calls queued for it, and that
// senders blocked on a full buffer are released.
func TestWriteTimeout(t *testing.T) {
	checkLeaks(t)
	stop := make(chan struct{})
	addr := fakeServer(t, true, func(net.Conn, *bufio.Reader) { <-stop }) // never reads
	t.Cleanup(func() { close(stop) })

	cfg := testConfig(t, "client")
	cfg.WriteTimeout = 200 * time.Millisecond
	cfg.MaxBuffered = 256 << 10
	ctx := ctxTimeout(t)
	c, err := Dial(ctx, addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	payload := echoMsg{Payload: strings.Repeat("p", 128<<10)}
	var sent int
	results := make(chan error, 1024)
	deadline := time.Now().Add(waitTimeout)
	for c.Err() == nil && sent < cap(results) {
		if time.Now().After(deadline) {
			t.Fatal("the connection to a peer that does not read stayed open")
		}
		c.Go(ctx, "x", 0, &payload, nil, func(err error) { results <- err })
		sent++
	}
	if c.Err() == nil {
		t.Fatalf("%d Go calls of %d bytes did not fill the socket", sent, len(payload.Payload))
	}
	for range sent {
		if err := recv(t, "a queued call", results); !errors.Is(err, ErrClosed) {
			t.Fatalf("queued call: %v, want ErrClosed", err)
		}
	}
	if err := c.Err(); !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("Err() = %v, want ErrClosed after a write timeout", err)
	}
}

func TestListenErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  *Config
		h    Handler
		want error
	}{
		{"nil handler", nil, nil, ErrInvalidConfig},
		{"bad config", &Config{MaxFrameSize: -1}, HandlerFunc(echo), ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Listen("127.0.0.1:0", tt.cfg, tt.h)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Listen: %v, want %v", err, tt.want)
			}
			if s != nil {
				t.Fatal("Listen returned a Server with its error")
			}
		})
	}
}
