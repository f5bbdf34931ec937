package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hoard-dev/hoard/internal/leakcheck"

	"github.com/hoard-dev/hoard/testcluster"
)

// TestMain fails the package if goroutines outlive its tests: a command
// must stop what it started, and the test clusters theirs.
func TestMain(m *testing.M) {
	leakcheck.Main(m)
}

// hoard runs the CLI in process and returns stdout, stderr and the exit code.
func hoard(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	return hoardIn(t, strings.NewReader(""), env, args...)
}

// hoardIn is hoard with stdin as the command's standard input.
func hoardIn(t *testing.T, stdin io.Reader, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, stdin, &stdout, &stderr, func(k string) string { return env[k] })
	return stdout.String(), stderr.String(), code
}

func TestClientCommands(t *testing.T) {
	c := testcluster.New(t, 3, nil)
	rpc := c.Node(1).RPCAddr()

	t.Run("members text", func(t *testing.T) {
		out, errOut, code := hoard(t, nil, "members", "--rpc", rpc)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		for _, want := range []string{"NAME", "n1", "n2", "n3", "alive"} {
			if !strings.Contains(out, want) {
				t.Fatalf("output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("members json via env, flags after args", func(t *testing.T) {
		out, errOut, code := hoard(t, map[string]string{"HOARD_RPC_ADDR": rpc}, "members", "--format", "json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var ms []struct{ Name, Status string }
		if err := json.Unmarshal([]byte(out), &ms); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		if len(ms) != 3 {
			t.Fatalf("got %d members: %s", len(ms), out)
		}
	})

	t.Run("ring", func(t *testing.T) {
		out, errOut, code := hoard(t, nil, "ring", "--rpc", rpc, "--format", "json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var r struct {
			Version    uint64 `json:"version"`
			Partitions int    `json:"partitions"`
			Members    []struct {
				Name       string `json:"name"`
				Partitions int    `json:"partitions"`
			} `json:"members"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		total := 0
		for _, m := range r.Members {
			total += m.Partitions
		}
		if len(r.Members) != 3 || total != r.Partitions || r.Version == 0 {
			t.Fatalf("ring: %+v", r)
		}
	})

	t.Run("ring partitions table", func(t *testing.T) {
		out, _, code := hoard(t, nil, "ring", "--partitions", "--rpc", rpc)
		if code != 0 {
			t.Fatal("non-zero exit")
		}
		lines := strings.Count(out, "\n")
		if !strings.Contains(out, "PARTITION") || lines < c.Node(0).Ring().Partitions() {
			t.Fatalf("partition table has %d lines", lines)
		}
	})

	t.Run("owner agrees with every node", func(t *testing.T) {
		want := c.Node(0).Ring()
		p, owner := want.Locate("pageviews", "/home")
		for _, n := range c.Nodes() {
			out, errOut, code := hoard(t, nil, "owner", "pageviews", "/home", "--rpc", n.RPCAddr(), "--format", "json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var pl struct {
				Partition int    `json:"partition"`
				Owner     string `json:"owner"`
			}
			if err := json.Unmarshal([]byte(out), &pl); err != nil {
				t.Fatal(err)
			}
			if pl.Partition != p || pl.Owner != owner.Name {
				t.Fatalf("%s says %+v, want partition %d owner %s", n.Name(), pl, p, owner.Name)
			}
		}
	})

	t.Run("version", func(t *testing.T) {
		out, _, code := hoard(t, nil, "version", "--rpc", rpc)
		if code != 0 || !strings.Contains(out, "hoard 0.") || !strings.Contains(out, "node n2") {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
}

func TestClientCommandErrors(t *testing.T) {
	c := testcluster.New(t, 1, nil)
	rpc := c.Node(0).RPCAddr()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no node", []string{"members", "--rpc", "127.0.0.1:1"}, "cannot reach a hoard node"},
		{"bad format", []string{"members", "--rpc", rpc, "--format", "yaml"}, "--format"},
		{"owner missing key", []string{"owner", "pageviews", "--rpc", rpc}, "accepts 2 arg"},
		{"owner empty key", []string{"owner", "pageviews", "", "--rpc", rpc}, "empty key"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"agent bad flag value", []string{"agent", "--name", "x", "--rpc", "nope", "--http", ""}, "rpc"},
		{"agent bad advertise", []string{"agent", "--name", "x", "--advertise", "nope", "--http", ""}, "advertise"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := hoard(t, nil, tc.args...)
			if code == 0 {
				t.Fatalf("exit 0; stdout:\n%s", out)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Fatalf("stderr lacks %q:\n%s", tc.want, errOut)
			}
		})
	}
}

func TestVersionWithoutNode(t *testing.T) {
	out, _, code := hoard(t, nil, "version", "--rpc", "127.0.0.1:1")
	if code != 0 || !strings.HasPrefix(out, "hoard ") {
		t.Fatalf("exit %d: %q", code, out)
	}
}

func TestAgentConfigErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "n1.hcl")
	if err := os.WriteFile(path, []byte("name = \"n1\"\n\ncounter \"pv\" {\n  interval = \"5 seconds\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := hoard(t, nil, "agent", "--config", path)
	if code == 0 {
		t.Fatal("agent accepted a bad config")
	}
	if !strings.Contains(errOut, "n1.hcl:4") || !strings.Contains(errOut, "interval") {
		t.Fatalf("error does not name file, line and field:\n%s", errOut)
	}
	_, errOut, code = hoard(t, nil, "agent", "--config", filepath.Join(dir, "missing.hcl"))
	if code == 0 || !strings.Contains(errOut, "missing.hcl") {
		t.Fatalf("missing file: exit %d: %s", code, errOut)
	}
}

func TestKeygen(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range []int{16, 24, 32} {
		out, errOut, code := hoard(t, nil, "keygen", "--bytes", strconv.Itoa(n))
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out))
		if code != 0 || err != nil || len(key) != n || seen[out] {
			t.Fatalf("keygen --bytes %d: exit %d %q %q (%v)", n, code, out, errOut, err)
		}
		seen[out] = true
	}
	if _, errOut, code := hoard(t, nil, "keygen", "--bytes", "20"); code == 0 || !strings.Contains(errOut, "16, 24 or 32") {
		t.Fatalf("keygen --bytes 20: exit %d %q", code, errOut)
	}
}

// TestJSONFieldsAreLowerCase: every JSON output names its fields in lower
// case (snake_case), as the HTTP API does.
func TestJSONFieldsAreLowerCase(t *testing.T) {
	c := testcluster.New(t, 2, nil)
	rpc := c.Node(0).RPCAddr()
	for _, args := range [][]string{{"members"}, {"ring"}, {"version"}, {"info"}, {"flush"}, {"dlq", "list"}} {
		out, errOut, code := hoard(t, nil, append(args, "--rpc", rpc, "--format", "json")...)
		if code != 0 {
			t.Fatalf("%v: exit %d %s", args, code, errOut)
		}
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		var walk func(any)
		walk = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, e := range v {
					if k != strings.ToLower(k) {
						t.Errorf("%v: field %q is not lower case", args, k)
					}
					walk(e)
				}
			case []any:
				for _, e := range v {
					walk(e)
				}
			}
		}
		walk(v)
	}
}
