package resp

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// Close ends the accept loop and every connection, idle or not, and waits
// for their goroutines; Serve then returns nil, and a Serve after Close
// returns at once.
func TestCloseEndsConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(ln, catalog{}, Config{})
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); err != nil || line != "+PONG\r\n" {
		t.Fatalf("PING: %q, %v", line, err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve returned %v after Close", err)
	}
	if _, err := r.ReadString('\n'); err != io.EOF {
		t.Fatalf("read after Close: %v, want EOF (the server hung up)", err)
	}
	if err := s.Serve(); err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
}

// Commands pipelined after QUIT are not run: the server answers up to
// QUIT and hangs up.
func TestQuitEndsThePipeline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// An op started after QUIT would panic the catalog's Start.
	s := New(ln, catalog{"pv": "counter"}, Config{})
	go func() { _ = s.Serve() }()
	defer s.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("PING\r\nQUIT\r\nINCR pv:k\r\n")); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "+PONG\r\n+OK\r\n" {
		t.Fatalf("replies %q, %v; want PONG, OK, then the connection closed", got, err)
	}
}
