package auth

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGateAdmit(t *testing.T) {
	key := []byte("0123456789abcdef")
	tokens, err := NewTokens([]Token{{Name: "app", Secret: "app-secret-0123456789", Role: RoleWrite}})
	if err != nil {
		t.Fatal(err)
	}
	withKey := func() [][]byte { return [][]byte{key} }
	noKey := func() [][]byte { return nil }
	for _, tc := range []struct {
		name         string
		gate         Gate
		token, proof string
		want         Caller
		err          string
	}{
		{"open: everyone a peer", Gate{Keys: noKey}, "", "", Caller{Role: RolePeer}, ""},
		{"encryption, no tokens: clients are admin", Gate{Keys: withKey}, "", "", Caller{Role: RoleAdmin}, ""},
		{"a peer's proof", Gate{Tokens: tokens, Keys: withKey}, "", PeerProof(key), Caller{Role: RolePeer}, ""},
		{"a proof of another key", Gate{Tokens: tokens, Keys: withKey}, "", PeerProof([]byte("fedcba9876543210")), Caller{}, "does not prove it is a peer"},
		{"a proof without encryption", Gate{Keys: noKey}, "", PeerProof(key), Caller{}, "does not prove it is a peer"},
		{"a token", Gate{Tokens: tokens, Keys: withKey}, "app-secret-0123456789", "", Caller{Token: "app", Role: RoleWrite}, ""},
		{"no token", Gate{Tokens: tokens, Keys: withKey}, "", "", Caller{}, "a token is required"},
		{"a wrong token", Gate{Tokens: tokens, Keys: withKey}, "nope-nope-nope-nope", "", Caller{}, "matches none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.gate.Admit("x", tc.token, tc.proof)
			switch {
			case tc.err == "" && (err != nil || got != tc.want):
				t.Fatalf("Admit = %+v, %v; want %+v", got, err, tc.want)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("Admit = %+v, %v; want an error saying %q", got, err, tc.err)
			}
		})
	}
}

func TestRequireHTTP(t *testing.T) {
	tokens, err := NewTokens([]Token{{Name: "dash", Secret: "dash-secret-0123456789", Role: RoleRead}})
	if err != nil {
		t.Fatal(err)
	}
	var refusals []error
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	srv := httptest.NewServer(tokens.RequireHTTP(ok, func(_ *http.Request, err error) { refusals = append(refusals, err) }))
	defer srv.Close()
	for _, tc := range []struct {
		header string
		code   int
	}{{"", 401}, {"Bearer wrong-wrong-wrong-wrong", 401}, {"Basic dash-secret-0123456789", 401}, {"Bearer dash-secret-0123456789", 200}} {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.code || (tc.code == 401 && resp.Header.Get("WWW-Authenticate") == "") {
			t.Errorf("%q: %d, want %d", tc.header, resp.StatusCode, tc.code)
		}
	}
	if len(refusals) != 3 || !errors.Is(refusals[0], ErrNoToken) {
		t.Fatalf("refusals %v, want 3, the first for no token", refusals)
	}
	var off *Tokens
	rec := httptest.NewRecorder()
	off.RequireHTTP(ok, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 200 || rec.Body.String() != "ok" {
		t.Fatalf("tokens off: %d %q, want the handler's 200 ok", rec.Code, rec.Body.String())
	}
}
