package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// handshake is what the test server saw of one connection's handshake.
type handshake struct {
	err   error
	peers []*x509.Certificate // the client's certificates
}

// testServer is a TLS echo server on 127.0.0.1: it reports each handshake
// on handshakes and echoes what the connection sends.
type testServer struct {
	addr       string
	handshakes chan handshake
	ln         net.Listener
	wg         sync.WaitGroup
	mu         sync.Mutex // guards conns
	conns      map[net.Conn]bool
}

func startServer(t *testing.T, cfg *tls.Config) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{addr: ln.Addr().String(), handshakes: make(chan handshake, 16), ln: ln, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[raw] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go s.serve(tls.Server(raw, cfg))
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *testServer) serve(c *tls.Conn) {
	defer s.wg.Done()
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := c.HandshakeContext(ctx)
	cancel()
	s.handshakes <- handshake{err: err, peers: c.ConnectionState().PeerCertificates}
	if err != nil {
		return
	}
	io.Copy(c, c)
}

// next returns the server's next handshake.
func (s *testServer) next(t *testing.T) handshake {
	t.Helper()
	select {
	case h := <-s.handshakes:
		return h
	case <-time.After(10 * time.Second):
		t.Fatal("no handshake on the server within 10s")
		return handshake{}
	}
}

// dial connects to s with cfg and completes the handshake, then checks that
// the connection carries a round trip: for TLS 1.3 the server's verdict on
// the client's certificate reaches the client after its handshake. It
// returns the connection, or the first error.
func dial(t *testing.T, s *testServer, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := tls.Dialer{Config: cfg}
	nc, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, err
	}
	c := nc.(*tls.Conn)
	if err := roundTrip(c); err != nil {
		c.Close()
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return c, nil
}

// roundTrip sends a line on c and reads the echo.
func roundTrip(c *tls.Conn) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	msg := []byte("ping\n")
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	_, err := io.ReadFull(c, got)
	return err
}

// servedSerial is the serial number of the certificate c's server presented.
func servedSerial(c *tls.Conn) int64 {
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}
