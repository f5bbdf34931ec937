package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/hoard-dev/hoard/internal/auth"
	"github.com/hoard-dev/hoard/internal/tlsconf"
	"github.com/hoard-dev/hoard/node"
)

// MinIdleTimeout is the shortest idle_timeout accepted: a shorter one
// would close connections that are merely between two requests.
const MinIdleTimeout = time.Second

// maxSecretFileBytes bounds a token's secret_file.
const maxSecretFileBytes = 64 << 10

// tlsAttrs maps the Config fields of tlsconf to the tls block's attributes.
var tlsAttrs = map[string]string{
	"CAFile":         "ca_file",
	"CertFile":       "cert_file",
	"KeyFile":        "key_file",
	"VerifyIncoming": "verify_incoming",
	"VerifyOutgoing": "verify_outgoing",
	"ServerName":     "server_name",
}

// tls decodes the tls block into n.TLS. Its scope is "tls", where "block"
// is the position of the block itself.
func (d *decoder) tls(n *node.Config, blk *hcl.Block) {
	const scope = "tls"
	d.pos[posKey(scope, "block")] = blk.DefRange
	schema := &hcl.BodySchema{Attributes: attrs("ca_file", "cert_file", "key_file", "verify_incoming", "verify_outgoing", "server_name")}
	b := d.attrs(d.content(blk.Body, schema, "tls").Attributes, scope, "tls")
	t := &n.TLS
	b.nonBlank("ca_file", &t.CAFile, "when there is no CA")
	b.nonBlank("cert_file", &t.CertFile, "when there is no certificate")
	b.nonBlank("key_file", &t.KeyFile, "when there is no certificate")
	b.boolean("verify_incoming", &t.VerifyIncoming)
	b.boolean("verify_outgoing", &t.VerifyOutgoing)
	b.nonBlank("server_name", &t.ServerName, "to check the host dialled")
}

// token decodes a token block into a new element of n.Tokens. Its scope
// is "token.N", where "name" is the position of its label.
func (d *decoder) token(n *node.Config, blk *hcl.Block) {
	scope := fmt.Sprintf("token.%d", len(n.Tokens))
	t := node.Token{Name: blk.Labels[0]}
	d.pos[posKey(scope, "name")] = blk.LabelRanges[0]
	label := fmt.Sprintf("token %q", t.Name)
	schema := &hcl.BodySchema{Attributes: attrs("secret", "secret_file", "role")}
	b := d.attrs(d.content(blk.Body, schema, label).Attributes, scope, label)
	hasSecret := b.str("secret", &t.Secret)
	var path string
	if b.str("secret_file", &path) {
		switch {
		case hasSecret:
			b.fail("secret_file", "give secret or secret_file, not both")
			d.bad[posKey(scope, "secret")] = true
		default:
			if s, err := readSecret(path); err != nil {
				b.fail("secret_file", "%v", err)
				d.bad[posKey(scope, "secret")] = true
			} else {
				t.Secret = s
				d.pos[posKey(scope, "secret")] = b.attrs["secret_file"].Expr.Range()
			}
		}
	}
	var role string
	if b.str("role", &role) {
		if r, err := auth.ParseRole(role); err != nil {
			b.fail("role", "want %s, got %q", quotedList(auth.Roles), role)
		} else {
			t.Role = r
		}
	}
	n.Tokens = append(n.Tokens, t)
}

// readSecret reads a token's secret_file: a regular file of at most
// maxSecretFileBytes, without its trailing line breaks. Errors start with
// the path and never show the contents.
func readSecret(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", pathError(path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", pathError(path, err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%q: not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFileBytes+1))
	if err != nil {
		return "", pathError(path, err)
	}
	if len(b) > maxSecretFileBytes {
		return "", fmt.Errorf("%q: larger than %d bytes, not a secret", path, maxSecretFileBytes)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%q: empty", path)
	}
	return s, nil
}

// pathError renders err, from opening or reading path, as `"path": cause`.
func pathError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%q: %w", path, err)
}

// encryptKey decodes the gossip key, standard base64. Messages never show
// the value.
func (b *attrSet) encryptKey(name string, dst *[]byte) bool {
	s, ok := b.stringValue(name, "a base64 key")
	if !ok {
		return false
	}
	if strings.TrimSpace(s) == "" {
		b.fail(name, "must not be empty; leave it out to gossip in the clear")
		return false
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		b.fail(name, "not valid base64; `hoard keygen` makes a key")
		return false
	}
	*dst = key
	return true
}

// quotedList renders names as `"a", "b" or "c"`.
func quotedList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	if len(q) <= 1 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// security checks the encryption key, connection limits, TLS and tokens.
func (v *validator) security(n *node.Config) {
	c := v.at("", "", v.top)
	if k := len(n.EncryptKey); k != 0 && k != 16 && k != 24 && k != 32 && !c.skip("encrypt") {
		c.fail("encrypt", "the key has %d bytes, want 16, 24 or 32 (AES-128, -192 or -256); `hoard keygen` makes one", k)
	}
	if n.MaxConns < 1 && !c.skip("max_connections") {
		c.fail("max_connections", "must be at least 1, got %d", n.MaxConns)
	}
	if n.IdleTimeout < MinIdleTimeout && !c.skip("idle_timeout") {
		c.fail("idle_timeout", "must be at least %s, got %s: a shorter timeout closes connections that are merely between two requests", MinIdleTimeout, n.IdleTimeout)
	}
	v.tls(&n.TLS)
	v.tokens(n.Tokens)
	if len(n.Tokens) > 0 && n.EncryptKey == nil && !c.skip("encrypt") {
		first := v.at("token.0", fmt.Sprintf("token %q", n.Tokens[0].Name), hcl.Range{})
		first.fail("name", "tokens need gossip encryption (encrypt): peers prove themselves to each other with a secret derived from its key, which no client holds")
	}
}

// tls checks the tls settings as tlsconf.New would, then reads the files.
func (v *validator) tls(t *tlsconf.Config) {
	block, inFile := v.pos[posKey("tls", "block")]
	c := v.at("tls", "tls", block)
	for _, f := range tlsAttrs {
		if c.skip(f) {
			return // reported already; the rest would follow from it
		}
	}
	n := len(v.diags)
	switch {
	case t.KeyFile != "" && t.CertFile == "":
		c.fail("key_file", "a key without a certificate: cert_file is missing")
	case t.CertFile != "" && t.KeyFile == "":
		c.fail("cert_file", "a certificate without its key: key_file is missing")
	case t.CertFile == "" && (t.CAFile != "" || inFile):
		c.errorf("cert_file", []string{"ca_file"}, "required: a node serves TLS with its certificate and key (cert_file and key_file)")
	}
	if t.VerifyIncoming && t.CAFile == "" {
		c.fail("verify_incoming", "needs ca_file, the CA that client certificates are verified against")
	}
	if t.VerifyOutgoing && t.CAFile == "" {
		c.fail("verify_outgoing", "needs ca_file, the CA that server certificates are verified against")
	}
	if t.ServerName != "" && !t.VerifyOutgoing {
		c.fail("server_name", "is checked only with verify_outgoing = true")
	}
	if len(v.diags) > n {
		return
	}
	whole := v.at("tls", "", block)      // problems with the block as a whole
	if err := t.Validate(); err != nil { // a rule the checks above missed
		whole.errorf("tls", []string{"block"}, "%v", err)
		return
	}
	if !t.Enabled() {
		return
	}
	if _, err := tlsconf.New(*t); err != nil {
		var fe *tlsconf.FieldError
		if errors.As(err, &fe) && tlsAttrs[fe.Field] != "" {
			c.fail(tlsAttrs[fe.Field], "%v", fe.Err)
		} else {
			whole.errorf("tls", []string{"block"}, "%v", err)
		}
	}
}

// tokens checks each token, then the list with auth.NewTokens, reporting
// its first complaint at the token it is about.
func (v *validator) tokens(tokens []node.Token) {
	var checked []node.Token
	for i, t := range tokens {
		scope := fmt.Sprintf("token.%d", i)
		c := v.at(scope, fmt.Sprintf("token %q", t.Name), hcl.Range{})
		n := len(v.diags)
		c.name("name", t.Name)
		if t.Secret == "" && !c.skip("secret") {
			c.errorf("secret", []string{"name"}, "required (or secret_file)")
		}
		if t.Role == auth.RoleNone && !c.skip("role") {
			c.errorf("role", []string{"name"}, "required: %s", quotedList(auth.Roles))
		}
		if len(v.diags) > n || c.skip("secret") || c.skip("role") {
			continue
		}
		checked = append(checked, t)
		if _, err := auth.NewTokens(checked); err != nil {
			v.diags = v.diags.Append(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  err.Error(),
				Subject:  c.rangeOf("name"),
			})
			checked = checked[:len(checked)-1]
		}
	}
}
