package cluster_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/cluster"
)

func withKey(k []byte) func(*cluster.Config) {
	return func(c *cluster.Config) { c.EncryptKey = k }
}

func withKeyring(k []byte, file string) func(*cluster.Config) {
	return func(c *cluster.Config) { c.EncryptKey, c.KeyringFile = k, file }
}

func TestEncryptedMembersGossip(t *testing.T) {
	k1 := key('a')
	n1 := startNode(t, "n1", withKey(k1))
	n2 := startNode(t, "n2", withKey(k1))
	n3 := startNode(t, "n3", withKey(k1))
	n2.join(t, n1)
	n3.join(t, n2)
	waitAlive(t, []*node{n1, n2, n3}, "n1", "n2", "n3")

	keys, primary := n1.Keys()
	if len(keys) != 1 || !bytes.Equal(keys[0], k1) || !bytes.Equal(primary, k1) {
		t.Fatalf("Keys() = %q, %q; want [k1], k1", keys, primary)
	}
}

// A node that does not hold the cluster's gossip key is refused at once,
// with an error that points at the key.
func TestJoinNeedsTheGossipKey(t *testing.T) {
	k1 := key('a')
	n1 := startNode(t, "n1", withKey(k1))
	n2 := startNode(t, "n2", withKey(k1))
	n2.join(t, n1)
	waitAlive(t, []*node{n1, n2}, "n1", "n2")

	for _, tc := range []struct {
		name string
		key  []byte
		hint string
	}{
		{"no key", nil, "set encrypt to its key"},
		{"wrong key", key('b'), "is the gossip key the same on every node?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := startNode(t, "x", withKey(tc.key))
			start := time.Now()
			_, err := x.Join(context.Background(), n1.GossipAddr(), n2.GossipAddr())
			elapsed := time.Since(start)
			if !errors.Is(err, cluster.ErrNoSeeds) {
				t.Fatalf("Join = %v, want ErrNoSeeds", err)
			}
			if !bytes.Contains([]byte(err.Error()), []byte(tc.hint)) {
				t.Errorf("Join error %q does not say %q", err, tc.hint)
			}
			if elapsed > 5*time.Second {
				t.Errorf("Join took %s to fail", elapsed)
			}
			if err := checkAlive([]*node{n1, n2}, []string{"n1", "n2"}); err != nil {
				t.Error(err)
			}
		})
	}

	// The other way round: an encrypting node cannot join a cluster in the clear.
	t.Run("cluster in the clear", func(t *testing.T) {
		p := startNode(t, "p", nil)
		x := startNode(t, "x", withKey(k1))
		if _, err := x.Join(context.Background(), p.GossipAddr()); !errors.Is(err, cluster.ErrNoSeeds) {
			t.Fatalf("Join = %v, want ErrNoSeeds", err)
		}
	})
}

// Rotating the key under gossip: install the new key everywhere, use it
// everywhere, remove the old one everywhere. No member is ever seen failed,
// and afterwards a node with only the new key joins while one with only the
// old key cannot.
func TestKeyRotationKeepsMembersAlive(t *testing.T) {
	k1, k2 := key('a'), key('b')
	dir := t.TempDir()
	var nodes []*node
	for _, name := range []string{"n1", "n2", "n3"} {
		n := startNode(t, name, withKeyring(k1, filepath.Join(dir, name, "keyring.json")))
		if len(nodes) > 0 {
			n.join(t, nodes[0])
		}
		nodes = append(nodes, n)
	}
	waitAlive(t, nodes, "n1", "n2", "n3")

	// Watch every member's view from now until the newcomer below is seen:
	// n1, n2 and n3 must stay alive in each.
	stop := make(chan struct{})
	var (
		wg      sync.WaitGroup
		failure error
	)
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, n := range nodes {
				if alive := n.aliveNames(); failure == nil && !isSubset([]string{"n1", "n2", "n3"}, alive) {
					failure = fmt.Errorf("%s sees %v alive", n.Name(), alive)
				}
			}
			select {
			case <-tick.C:
			case <-stop:
				return
			}
		}
	})

	for _, step := range []struct {
		name string
		do   func(*node) error
	}{
		{"install k2", func(n *node) error { return n.InstallKey(k2) }},
		{"use k2", func(n *node) error { return n.UseKey(k2) }},
		{"remove k1", func(n *node) error { return n.RemoveKey(k1) }},
	} {
		for _, n := range nodes {
			if err := step.do(n); err != nil {
				t.Fatalf("%s on %s: %v", step.name, n.Name(), err)
			}
		}
	}
	for _, n := range nodes {
		keys, primary := n.Keys()
		if len(keys) != 1 || !bytes.Equal(primary, k2) {
			t.Fatalf("%s: Keys() = %q, %q; want [k2], k2", n.Name(), keys, primary)
		}
	}

	// Gossip goes on with k2 only: a newcomer holding only k2 is seen by all.
	n4 := startNode(t, "n4", withKey(k2))
	n4.join(t, nodes[0])
	waitAlive(t, append(slices.Clone(nodes), n4), "n1", "n2", "n3", "n4")
	close(stop)
	wg.Wait()
	if failure != nil {
		t.Errorf("a member was not alive during the rotation: %v", failure)
	}

	old := startNode(t, "old", withKey(k1))
	if _, err := old.Join(context.Background(), nodes[0].GossipAddr()); !errors.Is(err, cluster.ErrNoSeeds) {
		t.Fatalf("a node with the removed key joined: Join = %v", err)
	}
}

// A restarted node keeps the keyring it persisted, whatever key its
// configuration names, and so gets back in after a rotation.
func TestRestartedNodeUsesPersistedKeyring(t *testing.T) {
	k1, k2 := key('a'), key('b')
	dir := t.TempDir()
	file1, file2 := filepath.Join(dir, "n1", "keyring.json"), filepath.Join(dir, "n2", "keyring.json")
	n1 := startNode(t, "n1", withKeyring(k1, file1))
	n2 := startNode(t, "n2", withKeyring(k1, file2))
	n2.join(t, n1)
	waitAlive(t, []*node{n1, n2}, "n1", "n2")
	for _, n := range []*node{n1, n2} {
		if err := n.InstallKey(k2); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*node{n1, n2} {
		if err := n.UseKey(k2); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*node{n1, n2} {
		if err := n.RemoveKey(k1); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n2.Leave(ctx); err != nil {
		t.Fatalf("n2 leaves: %v", err)
	}

	n2 = startNode(t, "n2", withKeyring(k1, file2)) // the configuration still says k1
	if _, primary := n2.Keys(); !bytes.Equal(primary, k2) {
		t.Fatalf("restarted n2's primary key is %q, want k2 from its keyring file", primary)
	}
	n2.join(t, n1)
	waitAlive(t, []*node{n1, n2}, "n1", "n2")
}

func TestKeyringFile(t *testing.T) {
	k1, k2 := key('a'), key('b')
	file := filepath.Join(t.TempDir(), "keyring.json")
	n := startNode(t, "n1", withKeyring(k1, file))
	read := func() []string {
		t.Helper()
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		if err := json.Unmarshal(b, &keys); err != nil {
			t.Fatalf("keyring file %q: %v", b, err)
		}
		return keys
	}
	b64 := base64.StdEncoding.EncodeToString
	if got := read(); !slices.Equal(got, []string{b64(k1)}) {
		t.Fatalf("keyring file after New = %q", got)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file mode: %v, %v", fi.Mode(), err)
	}

	steps := []struct {
		name    string
		do      func() error
		wantErr error
		file    []string
	}{
		{"install k2", func() error { return n.InstallKey(k2) }, nil, []string{b64(k1), b64(k2)}},
		{"install k2 again", func() error { return n.InstallKey(k2) }, nil, []string{b64(k1), b64(k2)}},
		{"install a short key", func() error { return n.InstallKey([]byte("short")) }, cluster.ErrInvalidKey, []string{b64(k1), b64(k2)}},
		{"remove the primary", func() error { return n.RemoveKey(k1) }, cluster.ErrPrimaryKey, []string{b64(k1), b64(k2)}},
		{"use an unknown key", func() error { return n.UseKey(key('c')) }, cluster.ErrKeyNotInstalled, []string{b64(k1), b64(k2)}},
		{"use k2", func() error { return n.UseKey(k2) }, nil, []string{b64(k2), b64(k1)}},
		{"remove k1", func() error { return n.RemoveKey(k1) }, nil, []string{b64(k2)}},
	}
	for _, s := range steps {
		if err := s.do(); !errors.Is(err, s.wantErr) || (s.wantErr == nil && err != nil) {
			t.Fatalf("%s: err = %v, want %v", s.name, err, s.wantErr)
		}
		if got := read(); !slices.Equal(got, s.file) {
			t.Fatalf("%s: keyring file = %q, want %q", s.name, got, s.file)
		}
	}
	if m, _ := filepath.Glob(file + ".tmp-*"); len(m) > 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

func TestKeyringNeedsEncryption(t *testing.T) {
	n := startNode(t, "n1", nil)
	if keys, primary := n.Keys(); keys != nil || primary != nil {
		t.Errorf("Keys() = %q, %q without encryption", keys, primary)
	}
	for name, f := range map[string]func([]byte) error{"InstallKey": n.InstallKey, "UseKey": n.UseKey, "RemoveKey": n.RemoveKey} {
		if err := f(key('a')); !errors.Is(err, cluster.ErrNoEncryption) {
			t.Errorf("%s = %v, want ErrNoEncryption", name, err)
		}
	}
}

func TestEncryptKeyIsValidated(t *testing.T) {
	_, err := tryStartNode(t, "n1", withKey([]byte("0123456789")))
	if !errors.Is(err, cluster.ErrInvalidConfig) || !errors.Is(err, cluster.ErrInvalidKey) {
		t.Fatalf("New with a 10-byte key = %v, want ErrInvalidConfig and ErrInvalidKey", err)
	}
}

func TestCorruptKeyringFileIsAnError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keyring.json")
	if err := os.WriteFile(file, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tryStartNode(t, "n1", withKeyring(key('a'), file)); err == nil {
		t.Fatal("New accepted a corrupt keyring file")
	}
}

// isSubset reports whether every name in want is in got.
func isSubset(want, got []string) bool {
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	return true
}
