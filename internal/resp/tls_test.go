package resp

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// With TLS on, go-redis clients that trust the CA are served over TLS
// 1.3; with mutual TLS, only those presenting a certificate of the CA.
// Every refused handshake is logged.
func TestTLSServesTrustedClients(t *testing.T) {
	ca := newPKI(t, "hoard")
	other := newPKI(t, "other")
	for _, tc := range []struct {
		name    string
		mutual  bool
		client  *tls.Config // nil: plain TCP
		refused bool
	}{
		{"server certificate", false, ca.clientTLS(), false},
		{"mutual", true, ca.clientTLS(ca.client), false},
		{"plain client", false, nil, true},
		{"client distrusting the server", false, other.clientTLS(), true},
		{"mutual without a client certificate", true, ca.clientTLS(), true},
		{"mutual with a certificate of another CA", true, ca.clientTLS(other.client), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, addr, logs := serve(t, newMemNode(), Config{TLS: ca.serverTLS(tc.mutual)})
			rdb := redis.NewClient(&redis.Options{Addr: addr, TLSConfig: tc.client, MaxRetries: -1})
			defer rdb.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			n, err := rdb.IncrBy(ctx, "pv:k", 5).Result()
			if tc.refused {
				if err == nil {
					t.Fatal("INCRBY succeeded; want the connection refused")
				}
				waitFor(t, "the failed handshake logged", func() bool { return len(logs.matching("resp tls handshake failed")) > 0 })
				if s.Stats().HandshakeFailures == 0 {
					t.Fatal("the failed handshake was not counted")
				}
				return
			}
			if err != nil || n != 5 {
				t.Fatalf("INCRBY: %d, %v; want 5", n, err)
			}
			if n, err := rdb.Get(ctx, "pv:k").Int64(); err != nil || n != 5 {
				t.Fatalf("GET: %d, %v; want 5", n, err)
			}
			tc, err := tls.Dial("tcp", addr, tc.client)
			if err != nil {
				t.Fatal(err)
			}
			defer tc.Close()
			if v := tc.ConnectionState().Version; v != tls.VersionTLS13 {
				t.Fatalf("TLS version %x; want 1.3", v)
			}
		})
	}
}

// A client that connects and never finishes the TLS handshake is hung up
// on after HandshakeTimeout.
func TestTLSHandshakeTimesOut(t *testing.T) {
	ca := newPKI(t, "hoard")
	_, addr, logs := serve(t, newMemNode(), Config{TLS: ca.serverTLS(false), HandshakeTimeout: 100 * time.Millisecond})
	start := time.Now() // before the dial: the server's clock starts at its accept, which may come before Dial returns
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read %d bytes, %v; want EOF, the server hanging up", n, err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("hung up after %s, before the handshake timeout", d)
	}
	waitFor(t, "the timeout logged", func() bool { return len(logs.matching("resp tls handshake failed")) > 0 })
}

// redisCLI returns the path of redis-cli, skipping the test when there is
// none, or failing it under CI=true.
func redisCLI(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("redis-cli")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-cli is not installed (apt-get install redis-tools)")
		}
		t.Skip("redis-cli is not installed (apt-get install redis-tools)")
	}
	return path
}

// runCLI runs redis-cli against addr with args and returns what it
// printed.
func runCLI(t *testing.T, cli, addr string, args ...string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, cli, append([]string{"-h", host, "-p", port}, args...)...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("redis-cli %q: %v", args, ctx.Err())
	}
	_ = err // redis-cli's exit status says little: the output is checked
	return strings.TrimSpace(string(out))
}

// redis-cli --tls with a client certificate is served under mutual TLS.
func TestRedisCLIOverMutualTLS(t *testing.T) {
	cli := redisCLI(t)
	if help, _ := exec.Command(cli, "--help").CombinedOutput(); !strings.Contains(string(help), "--tls") {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-cli was built without TLS")
		}
		t.Skip("redis-cli was built without TLS")
	}
	ca := newPKI(t, "hoard")
	_, addr, _ := serve(t, newMemNode(), Config{TLS: ca.serverTLS(true)})
	tlsArgs := []string{"--tls", "--cacert", ca.caFile, "--cert", ca.certFile, "--key", ca.keyFile}
	if out := runCLI(t, cli, addr, append(tlsArgs, "INCRBY", "pv:cli", "7")...); out != "7" {
		t.Fatalf("INCRBY over TLS: %q; want 7", out)
	}
	if out := runCLI(t, cli, addr, "--tls", "--cacert", ca.caFile, "GET", "pv:cli"); strings.Contains(out, "7") {
		t.Fatalf("GET without a client certificate: %q; want it refused", out)
	}
}
