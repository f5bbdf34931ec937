package config

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/node"
)

// TestParseSecurityErrors checks each problem with the security settings
// and its position. @DIR@ in a source or message is the directory of the
// test's TLS files (see writeTLSFiles), which also holds empty.token and
// notpem.txt.
func TestParseSecurityErrors(t *testing.T) {
	files := writeTLSFiles(t)
	writeFile(t, filepath.Join(files.dir, "empty.token"), "\n")
	writeFile(t, filepath.Join(files.dir, "notpem.txt"), "hello\n")
	const n = "name = \"n\"\n"
	const pair = "  cert_file = \"@DIR@/node.pem\"\n  key_file = \"@DIR@/node-key.pem\"\n"
	const secret = "  secret = \"0123456789abcdef\"\n"
	for _, tc := range []struct {
		name string
		file string // default "e.hcl"
		src  string
		want string // a line of the message
	}{
		// Top-level settings.
		{name: "encrypt not base64", src: n + "encrypt = \"not base64!\"\n",
			want: "e.hcl:2,11: encrypt: not valid base64; `hoard keygen` makes a key"},
		{name: "encrypt too short", src: n + "encrypt = \"AAECAwQFBgcICQ==\"\n",
			want: "e.hcl:2,11: encrypt: the key has 10 bytes, want 16, 24 or 32 (AES-128, -192 or -256); `hoard keygen` makes one"},
		{name: "encrypt empty", src: n + "encrypt = \"\"\n",
			want: "e.hcl:2,11: encrypt: must not be empty; leave it out to gossip in the clear"},
		{name: "encrypt not a string", src: n + "encrypt = 5\n",
			want: "e.hcl:2,11: encrypt: want a base64 key, got number"},
		{name: "max_connections zero", src: n + "max_connections = 0\n",
			want: "e.hcl:2,19: max_connections: must be at least 1, got 0"},
		{name: "max_connections not a number", src: n + "max_connections = \"many\"\n",
			want: `e.hcl:2,19: max_connections: want a whole number, got "many"`},
		{name: "idle_timeout too short", src: n + "idle_timeout = \"500ms\"\n",
			want: "e.hcl:2,16: idle_timeout: must be at least 1s, got 500ms: a shorter timeout closes connections that are merely between two requests"},
		{name: "idle_timeout invalid", src: n + "idle_timeout = \"soon\"\n",
			want: `e.hcl:2,16: idle_timeout: invalid duration "soon"`},
		{name: "metrics_open not a bool", src: n + "metrics_open = \"yes\"\n",
			want: "e.hcl:2,16: metrics_open: want true or false, got string"},

		// The tls block.
		{name: "two tls blocks", src: n + "tls {\n" + pair + "}\ntls {}\n",
			want: "e.hcl:6,1: tls: only one tls block is allowed, the first is at e.hcl:2,1"},
		{name: "tls unknown attribute", src: n + "tls {\n" + pair + "  verify = true\n}\n",
			want: `e.hcl:5,3: tls: Unsupported argument; An argument named "verify" is not expected here.`},
		{name: "missing certificate file", src: n + "tls {\n  cert_file = \"@DIR@/missing.pem\"\n  key_file = \"@DIR@/node-key.pem\"\n}\n",
			want: `e.hcl:3,15: tls: cert_file: "@DIR@/missing.pem": no such file or directory`},
		{name: "missing ca file", src: n + "tls {\n  ca_file = \"@DIR@/missing.pem\"\n" + pair + "}\n",
			want: `e.hcl:3,13: tls: ca_file: "@DIR@/missing.pem": no such file or directory`},
		{name: "ca not pem", src: n + "tls {\n  ca_file = \"@DIR@/notpem.txt\"\n" + pair + "}\n",
			want: `e.hcl:3,13: tls: ca_file: "@DIR@/notpem.txt": no PEM certificate found (not a PEM file?)`},
		{name: "key of another certificate", src: n + "tls {\n  cert_file = \"@DIR@/node.pem\"\n  key_file = \"@DIR@/other-key.pem\"\n}\n",
			want: `e.hcl:4,14: tls: key_file: "@DIR@/other-key.pem": the key does not match the certificate in "@DIR@/node.pem"`},
		{name: "certificate without key", src: n + "tls {\n  cert_file = \"@DIR@/node.pem\"\n}\n",
			want: "e.hcl:3,15: tls: cert_file: a certificate without its key: key_file is missing"},
		{name: "key without certificate", src: n + "tls {\n  key_file = \"@DIR@/node-key.pem\"\n}\n",
			want: "e.hcl:3,14: tls: key_file: a key without a certificate: cert_file is missing"},
		{name: "ca without certificate", src: n + "tls {\n  ca_file = \"@DIR@/ca.pem\"\n}\n",
			want: "e.hcl:3,13: tls: cert_file: required: a node serves TLS with its certificate and key (cert_file and key_file)"},
		{name: "empty tls block", src: n + "tls {}\n",
			want: "e.hcl:2,1: tls: cert_file: required: a node serves TLS with its certificate and key (cert_file and key_file)"},
		{name: "verify_incoming without ca", src: n + "tls {\n" + pair + "  verify_incoming = true\n}\n",
			want: "e.hcl:5,21: tls: verify_incoming: needs ca_file, the CA that client certificates are verified against"},
		{name: "verify_outgoing without ca", src: n + "tls {\n" + pair + "  verify_outgoing = true\n}\n",
			want: "e.hcl:5,21: tls: verify_outgoing: needs ca_file, the CA that server certificates are verified against"},
		{name: "server_name without verify_outgoing", src: n + "tls {\n" + pair + "  server_name = \"localhost\"\n}\n",
			want: "e.hcl:5,17: tls: server_name: is checked only with verify_outgoing = true"},
		{name: "empty cert_file", src: n + "tls {\n  cert_file = \"\"\n}\n",
			want: "e.hcl:3,15: tls: cert_file: must not be empty; leave it out when there is no certificate"},
		{name: "verify_incoming not a bool", src: n + "tls {\n" + pair + "  verify_incoming = 1\n}\n",
			want: "e.hcl:5,21: tls: verify_incoming: want true or false, got number"},

		// Token blocks.
		{name: "token without role", src: n + "token \"a\" {\n" + secret + "}\n",
			want: `e.hcl:2,7: token "a": role: required: "read", "write" or "admin"`},
		{name: "token with an unknown role", src: n + "token \"a\" {\n" + secret + "  role = \"root\"\n}\n",
			want: `e.hcl:4,10: token "a": role: want "read", "write" or "admin", got "root"`},
		{name: "token without secret", src: n + "token \"a\" {\n  role = \"read\"\n}\n",
			want: `e.hcl:2,7: token "a": secret: required (or secret_file)`},
		{name: "token with secret and secret_file", src: n + "token \"a\" {\n" + secret + "  secret_file = \"@DIR@/ca.pem\"\n  role = \"read\"\n}\n",
			want: `e.hcl:4,17: token "a": secret_file: give secret or secret_file, not both`},
		{name: "missing secret_file", src: n + "token \"a\" {\n  secret_file = \"@DIR@/missing.token\"\n  role = \"read\"\n}\n",
			want: `e.hcl:3,17: token "a": secret_file: "@DIR@/missing.token": no such file or directory`},
		{name: "empty secret_file", src: n + "token \"a\" {\n  secret_file = \"@DIR@/empty.token\"\n  role = \"read\"\n}\n",
			want: `e.hcl:3,17: token "a": secret_file: "@DIR@/empty.token": empty`},
		{name: "secret_file a directory", src: n + "token \"a\" {\n  secret_file = \"@DIR@\"\n  role = \"read\"\n}\n",
			want: `e.hcl:3,17: token "a": secret_file: "@DIR@": not a regular file`},
		{name: "short secret", src: n + "token \"a\" {\n  secret = \"hunter2\"\n  role = \"read\"\n}\n",
			want: `e.hcl:2,7: token "a": the secret has 7 bytes, at least 16 are needed (hoard keygen makes one)`},
		{name: "token declared twice", src: n + "token \"a\" {\n" + secret + "  role = \"read\"\n}\ntoken \"a\" {\n  secret = \"fedcba9876543210\"\n  role = \"read\"\n}\n",
			want: `e.hcl:6,7: token "a": declared twice`},
		{name: "tokens sharing a secret", src: n + "token \"a\" {\n" + secret + "  role = \"read\"\n}\ntoken \"b\" {\n" + secret + "  role = \"admin\"\n}\n",
			want: `e.hcl:6,7: token "b": same secret as token "a"`},
		{name: "token name", src: n + "token \"a b\" {\n" + secret + "  role = \"read\"\n}\n",
			want: `e.hcl:2,7: token "a b": name: invalid name "a b"`},
		{name: "token without name", src: n + "token {\n" + secret + "  role = \"read\"\n}\n",
			want: `e.hcl:2,7: Missing name for token`},
		{name: "json short secret", file: "e.json", src: `{"name": "n", "token": {"a": {"secret": "x", "role": "read"}}}`,
			want: `e.json:1,25: token "a": the secret has 1 bytes`},
		{name: "json two tls blocks", file: "e.json", src: `{"name": "n", "tls": [{"ca_file": "x"}, {}]}`,
			want: `e.json:1,22: tls: only one tls block is allowed`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := tc.file
			if file == "" {
				file = "e.hcl"
			}
			src := strings.ReplaceAll(tc.src, "@DIR@", files.dir)
			want := strings.ReplaceAll(tc.want, "@DIR@", files.dir)
			a, err := Parse(file, []byte(src))
			if err == nil {
				t.Fatalf("Parse succeeded, want an error; got %+v", a)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false for %v", err)
			}
			msg := err.Error()
			for _, line := range strings.Split(msg, "\n") {
				if !strings.HasPrefix(line, file+":") {
					t.Errorf("line %q does not start with the file's position", line)
				}
			}
			if !strings.Contains(msg, want) {
				t.Errorf("error\n%s\ndoes not contain\n%s", msg, want)
			}
		})
	}
}

// TestErrorsNeverShowSecrets: neither a token's secret nor the gossip key
// appears in a message, whatever is wrong with them.
func TestErrorsNeverShowSecrets(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "short.token"), "s3cr3tFromFile\n")
	src := `name = "n"
encrypt = "c2VjcmV0LWtleQ=="
token "a" {
  secret = "hunter2"
  role   = "read"
}
token "b" {
  secret_file = "` + dir + `/short.token"
  role        = "write"
}
token "c" {
  secret = "hunter2-but-longer"
  role   = "nobody"
}
token "d" {
  secret = "hunter2-but-longer"
  role   = "admin"
}
token "e" {
  secret = "hunter2-but-longer"
  role   = "admin"
}
`
	_, err := Parse("s.hcl", []byte(src))
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	for _, s := range []string{"hunter2", "s3cr3t", "c2VjcmV0LWtleQ", "secret-key"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error shows %q:\n%s", s, err)
		}
	}
	// Each problem is there, though.
	for _, w := range []string{`s.hcl:2,11: encrypt: the key has 10 bytes`, `s.hcl:3,7: token "a": the secret has 7 bytes`,
		`s.hcl:7,7: token "b": the secret has 14 bytes`, `s.hcl:13,12: token "c": role: want`, `s.hcl:19,7: token "e": same secret as token "d"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error\n%s\ndoes not contain\n%s", err, w)
		}
	}
}

// Relative file paths are kept as written: they are relative to the
// working directory, like data_dir's.
func TestSecurityRelativePaths(t *testing.T) {
	files := writeTLSFiles(t)
	writeFile(t, filepath.Join(files.dir, "ops.token"), "ops-secret-0123456789\r\n\n")
	t.Chdir(files.dir)
	src := `name = "n"
encrypt = "MDEyMzQ1Njc4OWFiY2RlZg=="
tls {
  ca_file         = "ca.pem"
  cert_file       = "node.pem"
  key_file        = "node-key.pem"
  verify_incoming = true
}
token "ops" {
  secret_file = "ops.token"
  role        = "write"
}
`
	a, err := Load(writeConfig(t, src))
	if err != nil {
		t.Fatal(err)
	}
	wantTLS := node.TLSConfig{CAFile: "ca.pem", CertFile: "node.pem", KeyFile: "node-key.pem", VerifyIncoming: true}
	if a.Node.TLS != wantTLS {
		t.Errorf("TLS = %+v, want %+v", a.Node.TLS, wantTLS)
	}
	wantTokens := []node.Token{{Name: "ops", Secret: "ops-secret-0123456789", Role: node.RoleWrite}}
	if !reflect.DeepEqual(a.Node.Tokens, wantTokens) {
		t.Errorf("secret_file read as %q, want its contents without the line breaks", a.Node.Tokens[0].Secret)
	}
}

// writeConfig writes src to a file of its own directory, which is not the
// working directory, and returns its path.
func writeConfig(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hoard.hcl")
	writeFile(t, path, src)
	return path
}

func TestParseSecurityJSON(t *testing.T) {
	files := writeTLSFiles(t)
	src := `{
  "name": "n",
  "encrypt": "AAECAwQFBgcICQoLDA0ODw==",
  "metrics_open": true,
  "max_connections": 10,
  "idle_timeout": "1s",
  "tls": {"ca_file": "@DIR@/ca.pem", "cert_file": "@DIR@/node.pem", "key_file": "@DIR@/node-key.pem", "verify_outgoing": true},
  "token": {"r": {"secret": "read-secret-0123456789", "role": "read"}, "w": {"secret": "write-secret-0123456789", "role": "write"}}
}`
	a, err := Parse("s.json", []byte(strings.ReplaceAll(src, "@DIR@", files.dir)))
	if err != nil {
		t.Fatal(err)
	}
	n := a.Node
	if len(n.EncryptKey) != 16 || !n.MetricsOpen || n.MaxConns != 10 || n.IdleTimeout != time.Second ||
		!n.TLS.VerifyOutgoing || n.TLS.CAFile != files.ca || len(n.Tokens) != 2 || n.Tokens[1].Role != node.RoleWrite {
		t.Errorf("parsed %+v", n)
	}
}

func TestValidateSecurity(t *testing.T) {
	files := writeTLSFiles(t)
	for _, tc := range []struct {
		name string
		mod  func(n *node.Config)
		want string // the whole message; "" for valid
	}{
		{"encrypt key of 7 bytes", func(n *node.Config) { n.EncryptKey = make([]byte, 7) },
			"encrypt: the key has 7 bytes, want 16, 24 or 32 (AES-128, -192 or -256); `hoard keygen` makes one"},
		{"encrypt key of 24 bytes", func(n *node.Config) { n.EncryptKey = make([]byte, 24) }, ""},
		{"no connections", func(n *node.Config) { n.MaxConns = 0 }, "max_connections: must be at least 1, got 0"},
		{"no idle timeout", func(n *node.Config) { n.IdleTimeout = 0 },
			"idle_timeout: must be at least 1s, got 0s: a shorter timeout closes connections that are merely between two requests"},
		{"tls", func(n *node.Config) {
			n.TLS = node.TLSConfig{CAFile: files.ca, CertFile: files.cert, KeyFile: files.key, VerifyIncoming: true, VerifyOutgoing: true}
		}, ""},
		{"tls verify without ca", func(n *node.Config) {
			n.TLS = node.TLSConfig{CertFile: files.cert, KeyFile: files.key, VerifyIncoming: true}
		}, "tls: verify_incoming: needs ca_file, the CA that client certificates are verified against"},
		{"tls key mismatch", func(n *node.Config) { n.TLS = node.TLSConfig{CertFile: files.cert, KeyFile: files.other} },
			`tls: key_file: "` + files.other + `": the key does not match the certificate in "` + files.cert + `"`},
		{"tokens", func(n *node.Config) {
			n.EncryptKey = make([]byte, 16)
			n.Tokens = []node.Token{{Name: "a", Secret: "0123456789abcdef", Role: node.RoleRead}}
		}, ""},
		{"tokens without encrypt", func(n *node.Config) {
			n.Tokens = []node.Token{{Name: "a", Secret: "0123456789abcdef", Role: node.RoleRead}}
		}, `token "a": name: tokens need gossip encryption (encrypt): peers prove themselves to each other with a secret derived from its key, which no client holds`},
		{"token without role", func(n *node.Config) {
			n.EncryptKey = make([]byte, 16)
			n.Tokens = []node.Token{{Name: "a", Secret: "0123456789abcdef"}}
		}, `token "a": role: required: "read", "write" or "admin"`},
		{"token without name", func(n *node.Config) {
			n.EncryptKey = make([]byte, 16)
			n.Tokens = []node.Token{{Secret: "0123456789abcdef", Role: node.RoleRead}}
		}, `token "": name: invalid name "", want 1 to 64 letters, digits, '_', '.' or '-'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Default()
			a.Node.Name = "n"
			tc.mod(&a.Node)
			err := a.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Errorf("Validate: %v\nwant %s", err, tc.want)
			}
		})
	}
}
