package transport

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

const (
	goodToken = "tok-ABCDEFGH12345678"
	badToken  = "tok-WRONGWRONG000000"
	peerProof = "proof-QWERTYUIOP987654"
)

// authorizeTokens accepts goodToken as "alice" and peerProof as "peer".
func authorizeTokens(remote Hello, _ *tls.ConnectionState) (any, error) {
	switch {
	case remote.Proof != "" && remote.Proof == peerProof:
		return "peer", nil
	case remote.Token == "":
		return nil, errors.New("a token is required")
	case remote.Token == goodToken:
		return "alice", nil
	}
	return nil, errors.New("the token matches none of this node's tokens")
}

// whoami answers with the request's identity and the credentials its Peer
// still carries.
func whoami(req *Request, r Reply) {
	r.Send(fmt.Sprintf("%v token=%q proof=%q", req.Identity, req.Peer.Token, req.Peer.Proof), nil)
}

func TestAuthorize(t *testing.T) {
	checkLeaks(t)
	logs := &lineCounter{}
	cfg := testConfig(t, "server")
	cfg.Logger = hclogTo(logs)
	cfg.Authorize = authorizeTokens
	s := startServer(t, cfg, HandlerFunc(whoami))

	tests := []struct {
		name   string
		token  string
		proof  func() string
		want   string // the handler's answer
		reason string // or the refusal's
	}{
		{"good token", goodToken, nil, `alice token="" proof=""`, ""},
		{"peer proof", "", func() string { return peerProof }, `peer token="" proof=""`, ""},
		{"bad token", badToken, nil, "", "the token matches none of this node's tokens"},
		{"no token", "", nil, "", "a token is required"},
		{"bad proof", "", func() string { return "proof-nope-nope-nope" }, "", "a token is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ccfg := testConfig(t, "client")
			ccfg.Token, ccfg.Proof = tt.token, tt.proof
			c, err := Dial(ctxTimeout(t), s.Addr().String(), ccfg)
			if tt.reason != "" {
				if !errors.Is(err, ErrUnauthorized) {
					t.Fatalf("Dial: %v, want ErrUnauthorized", err)
				}
				if !strings.Contains(err.Error(), "unauthorized: "+tt.reason) {
					t.Fatalf("Dial error %q does not carry the reason %q", err, tt.reason)
				}
				for _, secret := range []string{goodToken, badToken, peerProof, "proof-nope"} {
					if strings.Contains(err.Error(), secret) {
						t.Fatalf("Dial error %q shows a secret", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.Close()
			var got string
			if err := c.Call(ctxTimeout(t), "whoami", nil, &got); err != nil || got != tt.want {
				t.Fatalf("whoami: %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	// The server logs a refusal after it has sent it: wait for the line.
	waitFor(t, waitTimeout, "the log line of the refusals", func() error {
		if !strings.Contains(logs.String(), "refused an unauthorized connection") {
			return errors.New("no line yet")
		}
		return nil
	})
	out := logs.String()
	for _, secret := range []string{goodToken, badToken, peerProof, "proof-nope"} {
		if strings.Contains(out, secret) {
			t.Fatalf("a log line shows a secret:\n%s", out)
		}
	}

	t.Run("nil Authorize accepts everyone", func(t *testing.T) {
		s := startServer(t, nil, HandlerFunc(whoami))
		var got string
		if err := dial(t, s, nil).Call(ctxTimeout(t), "whoami", nil, &got); err != nil || got != `<nil> token="" proof=""` {
			t.Fatalf("whoami: %q, %v", got, err)
		}
	})

	t.Run("a panicking Authorize refuses", func(t *testing.T) {
		cfg := testConfig(t, "server")
		cfg.Authorize = func(Hello, *tls.ConnectionState) (any, error) { panic("boom") }
		s := startServer(t, cfg, HandlerFunc(whoami))
		_, err := Dial(ctxTimeout(t), s.Addr().String(), testConfig(t, "client"))
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("Dial: %v, want ErrUnauthorized", err)
		}
		callOK(t, dial(t, startServer(t, nil, HandlerFunc(echo)), nil), 1)
	})
}

// TestHelloCompatible: a hello with credentials decodes in a peer that
// predates them, and the credentials never show when a Hello is printed.
func TestHelloCompatible(t *testing.T) {
	type oldHello struct {
		Protocol int    `msgpack:"protocol"`
		Cluster  string `msgpack:"cluster"`
		Name     string `msgpack:"name"`
	}
	b, err := msgpack.Marshal(Hello{Protocol: ProtocolVersion, Cluster: "c", Name: "n", Token: goodToken, Proof: peerProof})
	if err != nil {
		t.Fatal(err)
	}
	var old oldHello
	if err := decodeBody(b, &old); err != nil || old != (oldHello{ProtocolVersion, "c", "n"}) {
		t.Fatalf("old peer decodes %+v, %v", old, err)
	}
	// And an old peer's hello decodes here, without credentials.
	b, err = msgpack.Marshal(oldHello{ProtocolVersion, "c", "n"})
	if err != nil {
		t.Fatal(err)
	}
	var h Hello
	if err := decodeBody(b, &h); err != nil || h != (Hello{Protocol: ProtocolVersion, Cluster: "c", Name: "n"}) {
		t.Fatalf("decodes %+v, %v", h, err)
	}
	for _, format := range []string{"%v", "%+v", "%s"} {
		out := fmt.Sprintf(format, Hello{Name: "n", Token: goodToken, Proof: peerProof})
		if strings.Contains(out, goodToken) || strings.Contains(out, peerProof) || !strings.Contains(out, "redacted") {
			t.Fatalf("%s prints %s", format, out)
		}
	}
}
