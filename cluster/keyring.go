package cluster

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/hashicorp/memberlist"

	"github.com/hoard-dev/hoard/internal/disk"
)

// ErrNoEncryption is returned by the keyring methods on a node that does
// not encrypt its gossip.
var ErrNoEncryption = errors.New("cluster: gossip encryption is off on this node (set encrypt)")

// ErrInvalidKey is returned for a gossip key that is not 16, 24 or 32 bytes.
var ErrInvalidKey = errors.New("cluster: a gossip key must be 16, 24 or 32 bytes (AES-128, -192 or -256)")

// ErrKeyNotInstalled is returned by UseKey and RemoveKey for a key that is
// not in the keyring.
var ErrKeyNotInstalled = errors.New("cluster: the key is not in the keyring (install it first)")

// ErrPrimaryKey is returned by RemoveKey for the key gossip is encrypted
// with: make another key primary (UseKey) first.
var ErrPrimaryKey = errors.New("cluster: the primary gossip key cannot be removed (use another key first)")

// ParseKey decodes a gossip key given in base64 (standard encoding), as
// `encrypt` and `hoard keyring` take it. Errors wrap ErrInvalidKey.
func ParseKey(b64 string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64: %w", ErrInvalidKey, err)
	}
	return k, validKey(k)
}

// validKey reports whether k can be a gossip key.
func validKey(k []byte) error {
	switch len(k) {
	case 16, 24, 32:
		return nil
	}
	return fmt.Errorf("%w: got %d bytes", ErrInvalidKey, len(k))
}

// The keyring file holds the keys, primary first, each base64-encoded
// (standard encoding, padded), as a JSON array: the format serf and Consul
// use. It is written with mode 0600, replaced atomically, and fsynced.
//
//	["HvY8ubRZMgafUOWvrOadwOckVa1wN3QWAo46FVKbVN8=", "T9jncgl9mbLus+baTTa7q7nPSUrXwbDi2dhbtqir37s="]

// loadKeyring returns the keyring the node starts with: the one in
// cfg.KeyringFile when that exists (fromFile), else one holding
// cfg.EncryptKey (written to cfg.KeyringFile when that is set), else nil:
// no encryption.
func loadKeyring(cfg *Config) (kr *memberlist.Keyring, fromFile bool, err error) {
	if cfg.KeyringFile != "" {
		keys, err := readKeyringFile(cfg.KeyringFile)
		switch {
		case err == nil:
			kr, err := memberlist.NewKeyring(keys, keys[0])
			if err != nil {
				return nil, false, fmt.Errorf("cluster: keyring file %s: %w", cfg.KeyringFile, err)
			}
			return kr, true, nil
		case !errors.Is(err, fs.ErrNotExist):
			return nil, false, err
		}
	}
	if len(cfg.EncryptKey) == 0 {
		return nil, false, nil
	}
	kr, err = memberlist.NewKeyring(nil, bytes.Clone(cfg.EncryptKey))
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if cfg.KeyringFile != "" {
		if err := writeKeyringFile(cfg.KeyringFile, [][]byte{cfg.EncryptKey}); err != nil {
			return nil, false, err
		}
	}
	return kr, false, nil
}

// readKeyringFile reads the keys in path, primary first. The error wraps
// fs.ErrNotExist when there is no such file.
func readKeyringFile(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cluster: read keyring: %w", err)
	}
	var encoded []string
	if err := json.Unmarshal(b, &encoded); err != nil {
		return nil, fmt.Errorf("cluster: keyring file %s is not a JSON array of base64 keys: %w", path, err)
	}
	if len(encoded) == 0 {
		return nil, fmt.Errorf("cluster: keyring file %s holds no key (delete it to start from encrypt again)", path)
	}
	keys := make([][]byte, len(encoded))
	for i, s := range encoded {
		k, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("cluster: keyring file %s: key %d is not base64: %w", path, i+1, err)
		}
		if err := validKey(k); err != nil {
			return nil, fmt.Errorf("cluster: keyring file %s: key %d: %w", path, i+1, err)
		}
		keys[i] = k
	}
	return keys, nil
}

// writeKeyringFile replaces path with the keys, primary first: it writes a
// temporary file beside it, fsyncs it, renames it over path and fsyncs the
// directory, so a crash leaves the old keyring or the new one.
func writeKeyringFile(path string, keys [][]byte) error {
	encoded := make([]string, len(keys))
	for i, k := range keys {
		encoded[i] = base64.StdEncoding.EncodeToString(k)
	}
	b, err := json.Marshal(encoded)
	if err != nil {
		return fmt.Errorf("cluster: encode keyring: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("cluster: write keyring: %w", err)
	}
	// A temp file is created 0600: the keys are readable by this user only.
	err = disk.WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
	if err != nil {
		return fmt.Errorf("cluster: write keyring %s: %w", path, err)
	}
	return nil
}

// Keys returns copies of the gossip keys, the primary (the one gossip is
// encrypted with) among them and also returned alone. Both are nil when the
// node does not encrypt its gossip.
func (c *Cluster) Keys() (keys [][]byte, primary []byte) {
	if c.keyring == nil {
		return nil, nil
	}
	c.keyMu.Lock()
	defer c.keyMu.Unlock()
	for _, k := range c.keyring.GetKeys() {
		keys = append(keys, bytes.Clone(k))
	}
	return keys, bytes.Clone(c.keyring.GetPrimaryKey())
}

// InstallKey adds k to the keyring: gossip encrypted with it is accepted
// from now on, and UseKey can make it primary. Installing a key already
// there does nothing. The keyring file is written before it returns.
// Errors: ErrNoEncryption, ErrInvalidKey, or why the file could not be
// written (the keyring is then unchanged).
func (c *Cluster) InstallKey(k []byte) error {
	return c.changeKeys(k, func(keys [][]byte) ([][]byte, error) {
		if slices.ContainsFunc(keys, func(x []byte) bool { return bytes.Equal(x, k) }) {
			return nil, nil
		}
		return append(keys, bytes.Clone(k)), nil
	}, (*memberlist.Keyring).AddKey)
}

// UseKey makes an installed key the primary one: gossip is encrypted with
// it from now on. Install it on every node before using it on any. The
// keyring file is written before it returns. Errors: ErrNoEncryption,
// ErrInvalidKey, ErrKeyNotInstalled, or why the file could not be written
// (the keyring is then unchanged).
func (c *Cluster) UseKey(k []byte) error {
	return c.changeKeys(k, func(keys [][]byte) ([][]byte, error) {
		i := slices.IndexFunc(keys, func(x []byte) bool { return bytes.Equal(x, k) })
		switch {
		case i < 0:
			return nil, ErrKeyNotInstalled
		case i == 0:
			return nil, nil
		}
		primary := keys[i]
		return append([][]byte{primary}, slices.Delete(keys, i, i+1)...), nil
	}, (*memberlist.Keyring).UseKey)
}

// RemoveKey takes k out of the keyring: gossip encrypted with it is
// refused from now on. Removing a key that is not there does nothing. The
// keyring file is written before it returns. Errors: ErrNoEncryption,
// ErrInvalidKey, ErrPrimaryKey, or why the file could not be written (the
// keyring is then unchanged).
func (c *Cluster) RemoveKey(k []byte) error {
	return c.changeKeys(k, func(keys [][]byte) ([][]byte, error) {
		i := slices.IndexFunc(keys, func(x []byte) bool { return bytes.Equal(x, k) })
		switch {
		case i < 0:
			return nil, nil
		case i == 0:
			return nil, ErrPrimaryKey
		}
		return slices.Delete(keys, i, i+1), nil
	}, (*memberlist.Keyring).RemoveKey)
}

// changeKeys validates k, computes the new key list (primary first) with
// edit, which returns nil for no change, persists it and then applies it
// with apply, so that the file never lags behind the keyring in use.
func (c *Cluster) changeKeys(k []byte, edit func([][]byte) ([][]byte, error), apply func(*memberlist.Keyring, []byte) error) error {
	if c.keyring == nil {
		return ErrNoEncryption
	}
	if err := validKey(k); err != nil {
		return err
	}
	c.keyMu.Lock()
	defer c.keyMu.Unlock()
	keys := c.keyring.GetKeys()
	// GetKeys puts the primary first; keep that order for the file.
	next, err := edit(slices.Clone(keys))
	if err != nil || next == nil {
		return err
	}
	if c.cfg.KeyringFile != "" {
		if err := writeKeyringFile(c.cfg.KeyringFile, next); err != nil {
			return err
		}
	}
	if err := apply(c.keyring, bytes.Clone(k)); err != nil {
		return fmt.Errorf("cluster: keyring: %w", err)
	}
	return nil
}
