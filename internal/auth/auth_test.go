package auth

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestTokens(t *testing.T) {
	ts, err := NewTokens([]Token{
		{Name: "ops", Secret: "0123456789abcdef-ops", Role: RoleAdmin},
		{Name: "app", Secret: "0123456789abcdef-app", Role: RoleWrite},
	})
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := ts.Check("0123456789abcdef-app"); err != nil || tok.Name != "app" || tok.Role != RoleWrite {
		t.Fatalf("Check(app) = %+v, %v", tok, err)
	}
	if _, err := ts.Check(""); !errors.Is(err, ErrNoToken) {
		t.Fatalf("Check(\"\") = %v, want ErrNoToken", err)
	}
	if _, err := ts.Check("0123456789abcdef-xxx"); !errors.Is(err, ErrBadToken) {
		t.Fatalf("Check(wrong) = %v, want ErrBadToken", err)
	}
	if RoleWrite.Allows(RoleAdmin) || !RoleAdmin.Allows(RoleWrite) || !RolePeer.Allows(RoleAdmin) {
		t.Fatal("role order is wrong")
	}
	var off *Tokens
	if tok, err := off.Check(""); err != nil || tok.Role != RoleAdmin {
		t.Fatalf("tokens off: Check = %+v, %v; want admin", tok, err)
	}
}

func TestNewTokensRefuses(t *testing.T) {
	for name, list := range map[string][]Token{
		"short":     {{Name: "a", Secret: "short", Role: RoleRead}},
		"no name":   {{Secret: "0123456789abcdef", Role: RoleRead}},
		"twice":     {{Name: "a", Secret: "0123456789abcdef1", Role: RoleRead}, {Name: "a", Secret: "0123456789abcdef2", Role: RoleRead}},
		"same":      {{Name: "a", Secret: "0123456789abcdef", Role: RoleRead}, {Name: "b", Secret: "0123456789abcdef", Role: RoleRead}},
		"no role":   {{Name: "a", Secret: "0123456789abcdef"}},
		"peer role": {{Name: "a", Secret: "0123456789abcdef", Role: RolePeer}},
	} {
		if _, err := NewTokens(list); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ParseRole("root"); err == nil {
		t.Error("ParseRole(root) accepted")
	}
}

func TestPeerProof(t *testing.T) {
	k1, k2 := []byte("0123456789abcdef"), []byte("fedcba9876543210")
	p := PeerProof(k1)
	if !CheckPeerProof(p, [][]byte{k2, k1}) {
		t.Fatal("proof from a key of the ring refused")
	}
	if CheckPeerProof(p, [][]byte{k2}) || CheckPeerProof("", [][]byte{k1}) {
		t.Fatal("proof accepted without its key")
	}
}

func TestTokenPrintsNoSecret(t *testing.T) {
	tok := Token{Name: "ops", Secret: "0123456789abcdef-secret", Role: RoleAdmin}
	cfg := struct{ Tokens []Token }{[]Token{tok}}
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg)} {
		if strings.Contains(s, "secret") || !strings.Contains(s, "ops") {
			t.Fatalf("printed %q", s)
		}
	}
}
