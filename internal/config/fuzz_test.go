package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that every problem it reports
// carries the file's position, and that what it accepts passes Validate.
func FuzzParse(f *testing.F) {
	for _, file := range []string{"testdata/design.hcl", "testdata/design.json"} {
		src, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	for _, s := range []string{
		"",
		"{}",
		`name = "n"`,
		"name = \"n\"\nhttp_addr = \"\"\njoin = [\"a:1\", null]\npartitions = 1/0\n",
		"name = \"n\"\nsink \"http\" \"h\" {\n  url = \"http://h\"\n  headers = { a = \"b\" }\n}\n",
		"name = \"n\"\nsink \"postgres\" \"p\" { dsn = \"x\"\n create_tables = true }\nbuffer \"b\" {\n sink = \"p\"\n max_bytes = \"64MiB\"\n}\n",
		"name = \"n\"\ncache \"c\" {\n loader \"postgres\" {\n  dsn = \"d\"\n  query = \"q\"\n }\n loader \"x\" {}\n}\n",
		`{"name": "n", "sink": {"file": {"f": {"path": "p"}}}, "counter": [{"c": {"sink": "f"}}]}`,
		`{"cache": {"c": {"loader": {"http": {"url": "http://h/{key}"}}}}, "name": 5}`,
		"name = [for x in [1, 2]: x]\npartitions = 2 % 0\n",
		"name = \"n\"\nsink \"stdout\" \"o\" {}\nbuffer \"b\" {\n sink = \"o\"\n jitter = \"none\"\n max_bytes = \"none\"\n flush_timeout = \"0s\"\n ttl = \"1h\"\n}\n",
		"name = \"n\"\nencrypt = \"AAECAwQFBgcICQoLDA0ODw==\"\nmetrics_open = true\nmax_connections = 5\nidle_timeout = \"1m\"\n",
		"name = \"n\"\ntls {\n ca_file = \"testdata/design.hcl\"\n cert_file = \"c.pem\"\n key_file = \"k.pem\"\n verify_incoming = true\n verify_outgoing = true\n server_name = \"x\"\n}\ntls {}\n",
		"name = \"n\"\ntoken \"a\" {\n secret = \"0123456789abcdef\"\n role = \"read\"\n}\ntoken \"b\" {\n secret_file = \"testdata/design.hcl\"\n role = \"admin\"\n}\ntoken \"a\" {\n secret = \"short\"\n secret_file = \"x\"\n}\n",
		`{"name": "n", "encrypt": "x", "tls": {"key_file": "k"}, "token": {"t": {"secret": "0123456789abcdef", "role": "write"}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		for _, file := range []string{"f.hcl", "f.json"} {
			a, err := Parse(file, src)
			if err != nil {
				if a != nil {
					t.Errorf("Parse(%s) returned an Agent with its error", file)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("Parse(%s) error does not match ErrInvalid: %v", file, err)
				}
				for _, line := range strings.Split(err.Error(), "\n") {
					if !strings.HasPrefix(line, file+":") {
						t.Errorf("Parse(%s) problem without a position: %q", file, line)
					}
				}
				continue
			}
			if err := a.Validate(); err != nil {
				t.Errorf("Parse(%s) accepted what Validate rejects: %v", file, err)
			}
		}
	})
}
