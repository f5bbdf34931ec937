package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hoard-dev/hoard/internal/testcerts"
)

// tlsFiles are a CA, a node certificate it signed and its key, written by
// writeTLSFiles as ca.pem, node.pem and node-key.pem, and other-key.pem, a
// key of no certificate.
type tlsFiles struct {
	dir                  string
	ca, cert, key, other string
}

func writeTLSFiles(t *testing.T) tlsFiles {
	t.Helper()
	return writeTLSFilesIn(t, t.TempDir())
}

// writeTLSFilesIn is writeTLSFiles in dir, which it creates.
func writeTLSFilesIn(t *testing.T, dir string) tlsFiles {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f := tlsFiles{dir: dir, ca: filepath.Join(dir, "ca.pem"), cert: filepath.Join(dir, "node.pem"),
		key: filepath.Join(dir, "node-key.pem"), other: filepath.Join(dir, "other-key.pem")}
	ca := testcerts.NewCA(t, dir, "ca")
	ca.Issue(t, dir, "node")  // node.pem, node-key.pem
	ca.Issue(t, dir, "other") // other-key.pem: its certificate is not used
	return f
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
