package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeployConfigsParse: the configuration files deploy/ ships (the
// Compose cluster's hoard.hcl and the Kubernetes ConfigMap's) parse and
// validate as the agent reads them.
func TestDeployConfigsParse(t *testing.T) {
	root := filepath.Join("..", "..", "deploy")
	compose, err := os.ReadFile(filepath.Join(root, "compose", "hoard.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile(filepath.Join(root, "kubernetes", "hoard.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	configMap := yamlBlock(string(manifest), "hoard.hcl")
	if configMap == "" {
		t.Fatal(`deploy/kubernetes/hoard.yaml has no "hoard.hcl: |" block`)
	}
	for _, tt := range []struct{ name, src, join string }{
		{"compose/hoard.hcl", string(compose), "hoard:7946"},
		{"kubernetes/hoard.yaml ConfigMap", configMap, "hoard-headless:7946"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Parse(tt.name, []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			n := a.Node
			if n.DataDir != "/data" {
				t.Errorf("data_dir %q, want the volume at /data", n.DataDir)
			}
			for _, addr := range []string{n.BindAddr, n.RPCAddr, n.HTTPAddr} {
				if !strings.HasPrefix(addr, "0.0.0.0:") {
					t.Errorf("listener %q does not bind every interface of the container", addr)
				}
			}
			if len(n.Join) != 1 || n.Join[0] != tt.join {
				t.Errorf("join %q, want [%q]", n.Join, tt.join)
			}
			if len(a.Stores) == 0 {
				t.Error("no store declared")
			}
		})
	}
}

// yamlBlock returns the literal block scalar `key: |` of a YAML document,
// its indentation removed: enough for the one ConfigMap, without a YAML
// parser.
func yamlBlock(doc, key string) string {
	var (
		b      strings.Builder
		indent = -1
		in     bool
	)
	for line := range strings.Lines(doc) {
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case !in:
			in = strings.TrimSpace(trimmed) == key+": |"
		case strings.TrimSpace(line) == "":
			b.WriteString("\n")
		default:
			n := len(line) - len(trimmed)
			if indent < 0 {
				indent = n
			}
			if n < indent {
				return b.String()
			}
			b.WriteString(line[indent:])
		}
	}
	return b.String()
}
