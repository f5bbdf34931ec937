package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/ring"
)

// designAgent is what testdata/design.hcl, the sample in DESIGN.md, means.
func designAgent() *Agent {
	return &Agent{
		Node: node.Config{
			Name:          "n1",
			Cluster:       "hoard",
			BindAddr:      "127.0.0.1:7946",
			RPCAddr:       "127.0.0.1:7373",
			HTTPAddr:      "127.0.0.1:8080",
			Join:          []string{"127.0.0.1:7947"},
			DataDir:       "./data/n1",
			Ring:          ringWith(1021),
			MaxValueBytes: 1 << 20,
			LeaveTimeout:  node.DefaultLeaveTimeout, // not a file setting
			WALSync:       node.DefaultWALSync,
			MaxConns:      node.DefaultMaxConns,
			IdleTimeout:   node.DefaultIdleTimeout,
		},
		LogLevel: "info",
		Sinks: []Sink{
			{Type: "file", Name: "out", Path: "./data/n1/out.jsonl"},
		},
		Stores: []Store{
			{
				Sink: "out",
				Config: node.StoreConfig{
					Kind: "counter", Name: "pageviews",
					Interval: 5 * time.Second, Jitter: time.Second,
					RetryMax: 5, RetryDelay: time.Second, FlushTimeout: 30 * time.Second, Ack: node.AckReplicated, Replicas: 1,
				},
			},
			{
				Sink: "out",
				Config: node.StoreConfig{
					Kind: "buffer", Name: "events",
					Interval: 5 * time.Second, Jitter: time.Second,
					RetryMax: 5, RetryDelay: time.Second, FlushTimeout: 30 * time.Second, Ack: node.AckReplicated, Replicas: 1,
					MaxSize: 1000, MaxBytes: 64 << 20,
				},
			},
			{
				// A cache never flushes: it has no interval, retries or
				// flush timeout. Its loads are bounded by the node's
				// default load timeout.
				Config: node.StoreConfig{
					Kind: "cache", Name: "users",
					RefreshInterval: 15 * time.Minute, TTL: time.Hour,
					LoadTimeout: 10 * time.Second, DumpInterval: time.Minute,
				},
				Loader: &Loader{Type: "http", URL: "http://127.0.0.1:9000/users/{key}"},
			},
		},
	}
}

// ringWith returns the default ring configuration with the given number of
// partitions, the one ring setting the file has.
func ringWith(partitions int) ring.Config {
	r := ring.DefaultConfig()
	r.Partitions = partitions
	return r
}

// withoutRanges returns a copy of a with every Range zeroed.
func withoutRanges(a *Agent) *Agent {
	c := *a
	c.Sinks = append([]Sink(nil), a.Sinks...)
	for i := range c.Sinks {
		c.Sinks[i].Range = hcl.Range{}
	}
	c.Stores = append([]Store(nil), a.Stores...)
	for i := range c.Stores {
		c.Stores[i].Range = hcl.Range{}
		if l := c.Stores[i].Loader; l != nil {
			lc := *l
			lc.Range = hcl.Range{}
			c.Stores[i].Loader = &lc
		}
	}
	return &c
}

func TestLoadDesign(t *testing.T) {
	want := designAgent()
	for _, file := range []string{"testdata/design.hcl", "testdata/design.json"} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			got, err := Load(file)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if g := withoutRanges(got); !reflect.DeepEqual(g, want) {
				t.Errorf("Load(%s) =\n%+v\nwant\n%+v", file, g, want)
				for i := range min(len(g.Stores), len(want.Stores)) {
					if !reflect.DeepEqual(g.Stores[i], want.Stores[i]) {
						t.Errorf("store %d:\n%+v\nwant\n%+v", i, g.Stores[i], want.Stores[i])
					}
				}
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate after Load: %v", err)
			}
		})
	}
}

// TestLoadDesignRanges checks the declaration positions against the sample.
func TestLoadDesignRanges(t *testing.T) {
	a, err := Load("testdata/design.hcl")
	if err != nil {
		t.Fatal(err)
	}
	at := func(r hcl.Range) string { return rangeStart(r) }
	checks := []struct{ what, got, want string }{
		{"sink out", at(a.Sinks[0].Range), "testdata/design.hcl:8,1"},
		{"counter pageviews", at(a.Stores[0].Range), "testdata/design.hcl:10,1"},
		{"buffer events", at(a.Stores[1].Range), "testdata/design.hcl:17,1"},
		{"cache users", at(a.Stores[2].Range), "testdata/design.hcl:22,1"},
		{"loader", at(a.Stores[2].Loader.Range), "testdata/design.hcl:23,3"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s declared at %s, want %s", c.what, c.got, c.want)
		}
	}
}

func TestDefault(t *testing.T) {
	want := Agent{
		Node: node.Config{
			Cluster:       "hoard",
			BindAddr:      "127.0.0.1:7946",
			RPCAddr:       "127.0.0.1:7373",
			HTTPAddr:      "127.0.0.1:8080",
			Ring:          ringWith(1021),
			MaxValueBytes: 1 << 20,
			LeaveTimeout:  node.DefaultLeaveTimeout,
			WALSync:       node.DefaultWALSync,
			MaxConns:      node.DefaultMaxConns,
			IdleTimeout:   node.DefaultIdleTimeout,
		},
		LogLevel: "info",
	}
	if got := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("Default() = %+v, want %+v", got, want)
	}
	// The same values, taken from the node's defaults rather than copied:
	// all of them but the name and data directory, which the agent derives.
	n := *node.DefaultConfig()
	n.Name, n.DataDir = "", ""
	if got := Default(); !reflect.DeepEqual(got.Node, n) {
		t.Errorf("Default().Node = %+v does not match node.DefaultConfig() = %+v", got.Node, n)
	}
}

func TestParseDefaults(t *testing.T) {
	src := `
name = "n2"
sink "stdout" "console" {}
sink "postgres" "db" { dsn = "postgres://localhost/hoard" }
counter "c" {
  sink     = "console"
  interval = "10s"
}
buffer "b" { sink = "db" }
cache "k" {}
`
	got, err := Parse("min.hcl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Node.Name = "n2"
	want.Node.DataDir = "./data/n2"
	want.Sinks = []Sink{
		{Type: "stdout", Name: "console"},
		{Type: "postgres", Name: "db", DSN: "postgres://localhost/hoard",
			CountersTable: "hoard_counters", ValuesTable: "hoard_values"},
	}
	want.Stores = []Store{
		{Sink: "console", Config: node.StoreConfig{Kind: "counter", Name: "c", Interval: 10 * time.Second, Jitter: 2 * time.Second,
			RetryMax: 5, RetryDelay: time.Second, FlushTimeout: 30 * time.Second, Ack: node.AckReplicated, Replicas: 1}},
		{Sink: "db", Config: node.StoreConfig{Kind: "buffer", Name: "b", Interval: 5 * time.Second, Jitter: time.Second,
			RetryMax: 5, RetryDelay: time.Second, FlushTimeout: 30 * time.Second, Ack: node.AckReplicated, Replicas: 1, MaxBytes: 64 << 20}},
		{Config: node.StoreConfig{Kind: "cache", Name: "k", LoadTimeout: 10 * time.Second, DumpInterval: time.Minute}},
	}
	// The defaults are the node's, whatever the kind.
	for i, s := range want.Stores {
		d := node.DefaultStoreConfig(s.Config.Kind)
		d.Name = s.Config.Name
		if s.Config.Kind == node.KindCounter {
			d.Interval, d.Jitter = 10*time.Second, node.DefaultJitter(10*time.Second)
		}
		if !reflect.DeepEqual(d, s.Config) {
			t.Errorf("store %d: want %+v, node.DefaultStoreConfig gives %+v", i, s.Config, d)
		}
	}
	if g := withoutRanges(got); !reflect.DeepEqual(g, &want) {
		t.Errorf("got\n%+v\nwant\n%+v", g, &want)
	}
}

// TestParseEverything sets every attribute to a non-default value.
func TestParseEverything(t *testing.T) {
	src := `
name           = "n3"
cluster        = "blue"
bind_addr      = "0.0.0.0:0"
advertise_addr = "10.0.0.3:7946"
rpc_addr       = ":7373"
http_addr      = ""
join           = ["10.0.0.1:7946", "[::1]:7946"]
data_dir       = "/var/lib/hoard"
log_level      = "debug"
partitions     = 271
max_value_bytes = "2MiB"
encrypt         = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
metrics_open    = true
max_connections = 500
idle_timeout    = "90s"

tls {
  ca_file         = "@DIR@/ca.pem"
  cert_file       = "@DIR@/node.pem"
  key_file        = "@DIR@/node-key.pem"
  verify_incoming = true
  verify_outgoing = true
  server_name     = "localhost"
}
token "ops" {
  secret = "ops-secret-0123456789"
  role   = "admin"
}
token "reader" {
  secret_file = "@DIR@/reader.token"
  role        = "read"
}

sink "http" "hook" {
  url     = "https://example.com/hook"
  headers = { Authorization = "Bearer x", "X-Trace" = "1" }
  timeout = "2s"
}
sink "postgres" "db" {
  dsn            = "host=/tmp dbname=hoard"
  timeout        = "3s"
  create_tables  = true
  counters_table = "stats.counters"
  values_table   = "vals"
}
sink "postgres" "own" {
  dsn                = "postgres://localhost/app"
  counters_statement = <<-SQL
    INSERT INTO pages (path, views) SELECT * FROM unnest($1::text[], $2::bigint[])
    ON CONFLICT (path) DO UPDATE SET views = pages.views + excluded.views
  SQL
  values_statement   = "INSERT INTO events (user_id, payload) SELECT * FROM unnest($1::text[], $2::bytea[])"
}
buffer "events" {
  sink          = "hook"
  interval      = "1m30s"
  jitter        = "none"
  retry_max     = 1
  retry_delay   = "250ms"
  flush_timeout = "none"
  max_size      = 10
  max_bytes     = "1 GB"
}
buffer "raw" {
  sink      = "db"
  max_size  = "none"
  max_bytes = 4096
}
buffer "huge" {
  sink      = "db"
  jitter    = "2s"
  max_bytes = "none"
}
cache "users" {
  refresh_interval = "1h"
  ttl              = "none"
  max_entries      = 100
  dump             = true
  skip_save        = true
  loader "postgres" {
    dsn        = "postgres://localhost/users"
    query      = "select v from t where k = $1"
    init_query = "select k, v from t"
    timeout    = "2s"
  }
}
cache "pages" {
  loader "http" {
    url      = "http://pages.internal/{key}"
    init_url = "http://pages.internal/all?fresh=1"
  }
}
`
	files := writeTLSFiles(t)
	writeFile(t, filepath.Join(files.dir, "reader.token"), "reader-secret-0123456789\n")
	got, err := Parse("all.hcl", []byte(strings.ReplaceAll(src, "@DIR@", files.dir)))
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	want := &Agent{
		Node: node.Config{
			Name: "n3", Cluster: "blue", BindAddr: "0.0.0.0:0", AdvertiseAddr: "10.0.0.3:7946",
			RPCAddr: ":7373", HTTPAddr: "", Join: []string{"10.0.0.1:7946", "[::1]:7946"},
			DataDir: "/var/lib/hoard", Ring: ringWith(271), MaxValueBytes: 2 << 20,
			LeaveTimeout: node.DefaultLeaveTimeout, // not a file setting
			WALSync:      node.DefaultWALSync,
			EncryptKey:   key,
			MetricsOpen:  true,
			MaxConns:     500,
			IdleTimeout:  90 * time.Second,
			TLS: node.TLSConfig{CAFile: files.ca, CertFile: files.cert, KeyFile: files.key,
				VerifyIncoming: true, VerifyOutgoing: true, ServerName: "localhost"},
			Tokens: []node.Token{
				{Name: "ops", Secret: "ops-secret-0123456789", Role: node.RoleAdmin},
				{Name: "reader", Secret: "reader-secret-0123456789", Role: node.RoleRead},
			},
		},
		LogLevel: "debug",
		Sinks: []Sink{
			{Type: "http", Name: "hook", URL: "https://example.com/hook",
				Headers: map[string]string{"Authorization": "Bearer x", "X-Trace": "1"}, Timeout: 2 * time.Second},
			{Type: "postgres", Name: "db", DSN: "host=/tmp dbname=hoard", Timeout: 3 * time.Second,
				CreateTables: true, CountersTable: "stats.counters", ValuesTable: "vals"},
			{Type: "postgres", Name: "own", DSN: "postgres://localhost/app", CountersTable: "hoard_counters", ValuesTable: "hoard_values",
				CountersStatement: "INSERT INTO pages (path, views) SELECT * FROM unnest($1::text[], $2::bigint[])\n" +
					"ON CONFLICT (path) DO UPDATE SET views = pages.views + excluded.views\n",
				ValuesStatement: "INSERT INTO events (user_id, payload) SELECT * FROM unnest($1::text[], $2::bytea[])"},
		},
		Stores: []Store{
			{Sink: "hook", Config: node.StoreConfig{Kind: "buffer", Name: "events", Interval: 90 * time.Second, Jitter: -1,
				RetryMax: 1, RetryDelay: 250 * time.Millisecond, FlushTimeout: -1, MaxSize: 10, MaxBytes: 1e9, Ack: node.AckReplicated, Replicas: 1}},
			{Sink: "db", Config: node.StoreConfig{Kind: "buffer", Name: "raw", Interval: 5 * time.Second, Jitter: time.Second,
				RetryMax: 5, RetryDelay: time.Second, FlushTimeout: 30 * time.Second, Ack: node.AckReplicated, Replicas: 1, MaxBytes: 4096}},
			{Sink: "db", Config: node.StoreConfig{Kind: "buffer", Name: "huge", Interval: 5 * time.Second, Jitter: 2 * time.Second,
				RetryMax: 5, RetryDelay: time.Second, FlushTimeout: 30 * time.Second, Ack: node.AckReplicated, Replicas: 1, MaxBytes: -1}},
			{Config: node.StoreConfig{Kind: "cache", Name: "users",
				RefreshInterval: time.Hour, MaxEntries: 100, Dump: true, SkipSave: true,
				LoadTimeout: 2 * time.Second, DumpInterval: time.Minute},
				Loader: &Loader{Type: "postgres", DSN: "postgres://localhost/users",
					Query: "select v from t where k = $1", InitQuery: "select k, v from t"}},
			{Config: cacheNamed("pages"),
				Loader: &Loader{Type: "http", URL: "http://pages.internal/{key}", InitURL: "http://pages.internal/all?fresh=1"}},
		},
	}
	if g := withoutRanges(got); !reflect.DeepEqual(g, want) {
		t.Errorf("got\n%+v\nwant\n%+v", g, want)
	}
}

// cacheNamed returns the node's default cache store configuration, named.
func cacheNamed(name string) node.StoreConfig {
	c := node.DefaultStoreConfig(node.KindCache)
	c.Name = name
	return c
}

func TestHTTPAddr(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"unset", `name = "n"`, Default().Node.HTTPAddr},
		{"null", "name = \"n\"\nhttp_addr = null", Default().Node.HTTPAddr},
		{"empty disables", "name = \"n\"\nhttp_addr = \"\"", ""},
		{"set", "name = \"n\"\nhttp_addr = \":9090\"", ":9090"},
		{"json unset", `{"name": "n"}`, Default().Node.HTTPAddr},
		{"json null", `{"name": "n", "http_addr": null}`, Default().Node.HTTPAddr},
		{"json empty disables", `{"name": "n", "http_addr": ""}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Parse("h.hcl", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			if a.Node.HTTPAddr != tc.want {
				t.Errorf("HTTPAddr = %q, want %q", a.Node.HTTPAddr, tc.want)
			}
		})
	}
}

func TestRESPAddr(t *testing.T) {
	for _, tc := range []struct {
		name, src, addr, sep string
	}{
		{"off by default", `name = "n"`, "", ""},
		{"set", "name = \"n\"\nresp_addr = \"127.0.0.1:6380\"", "127.0.0.1:6380", ""},
		{"separator", "name = \"n\"\nresp_addr = \":6380\"\nresp_separator = \"/\"", ":6380", "/"},
		{"json", `{"name": "n", "resp_addr": "127.0.0.1:6380"}`, "127.0.0.1:6380", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Parse("h.hcl", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			if a.Node.RESPAddr != tc.addr || a.Node.RESPSeparator != tc.sep {
				t.Errorf("RESPAddr, RESPSeparator = %q, %q; want %q, %q", a.Node.RESPAddr, a.Node.RESPSeparator, tc.addr, tc.sep)
			}
		})
	}
}

func TestSyntaxChoice(t *testing.T) {
	for _, tc := range []struct {
		name, file, src string
		ok              bool
	}{
		{"hcl", "a.hcl", `name = "n"`, true},
		{"json by extension", "a.json", `{"name": "n"}`, true},
		{"json by extension, upper case", "a.JSON", `{"name": "n"}`, true},
		{"json by content", "a.conf", " \n{\"name\": \"n\"}", true},
		{"json by content with BOM", "a.conf", "\ufeff{\"name\": \"n\"}", true},
		{"hcl in a .json file", "a.json", `name = "n"`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Parse(tc.file, []byte(tc.src))
			if !tc.ok {
				if err == nil {
					t.Fatal("Parse succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Node.Name != "n" {
				t.Errorf("Name = %q, want n", a.Node.Name)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.hcl"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want fs.ErrNotExist", err)
	}
	if errors.Is(err, ErrInvalid) {
		t.Errorf("Load of a missing file matches ErrInvalid: %v", err)
	}
}

func TestLoadPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hoard.hcl")
	if err := os.WriteFile(path, []byte("name = \"n\"\npartitions = 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if want := path + ":2,14: partitions: must be at least 1, got 0"; err == nil || err.Error() != want {
		t.Errorf("Load: %v, want %s", err, want)
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"512", 512, true},
		{"512B", 512, true},
		{"64MiB", 64 << 20, true},
		{"64mib", 64 << 20, true},
		{" 1 GB ", 1e9, true},
		{"2kB", 2000, true},
		{"3KiB", 3072, true},
		{"1TiB", 1 << 40, true},
		{"8388607TiB", 8388607 << 40, true},
		{"8388608TiB", 0, false},
		{"99999999999999999999", 0, false},
		{"", 0, false},
		{"MiB", 0, false},
		{"-1", 0, false},
		{"1.5GiB", 0, false},
		{"64 megs", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSize(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("parseSize(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}
