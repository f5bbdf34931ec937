package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/node"
)

// TestAttributeOfAnotherKind checks that a store attribute or block that
// does not apply to the block's kind is refused, at its name, naming the
// attribute and the kinds, rather than silently ignored.
func TestAttributeOfAnotherKind(t *testing.T) {
	const n = "name = \"n\"\nsink \"stdout\" \"out\" {}\n"
	for _, tc := range []struct {
		name string
		file string // default "k.hcl"
		src  string
		want string // the whole message
	}{
		{name: "cache with sink", src: n + "cache \"c\" {\n  sink = \"out\"\n}\n",
			want: `k.hcl:4,3: cache "c": Unsupported argument; An argument named "sink" is not expected here: sink applies to counter and buffer stores only, not to cache stores.`},
		{name: "cache with interval", src: n + "cache \"c\" {\n  interval = \"5s\"\n}\n",
			want: `k.hcl:4,3: cache "c": Unsupported argument; An argument named "interval" is not expected here: interval applies to counter and buffer stores only, not to cache stores.`},
		{name: "cache with flush_timeout", src: n + "cache \"c\" {\n  flush_timeout = \"5s\"\n}\n",
			want: `k.hcl:4,3: cache "c": Unsupported argument; An argument named "flush_timeout" is not expected here: flush_timeout applies to counter and buffer stores only, not to cache stores.`},
		{name: "cache with max_bytes", src: n + "cache \"c\" {\n  max_bytes = \"1MiB\"\n}\n",
			want: `k.hcl:4,3: cache "c": Unsupported argument; An argument named "max_bytes" is not expected here: max_bytes applies to buffer stores only, not to cache stores.`},
		{name: "counter with max_size", src: n + "counter \"c\" {\n  sink = \"out\"\n  max_size = 10\n}\n",
			want: `k.hcl:5,3: counter "c": Unsupported argument; An argument named "max_size" is not expected here: max_size applies to buffer stores only, not to counter stores.`},
		{name: "counter with max_bytes", src: n + "counter \"c\" {\n  sink = \"out\"\n  max_bytes = \"1MiB\"\n}\n",
			want: `k.hcl:5,3: counter "c": Unsupported argument; An argument named "max_bytes" is not expected here: max_bytes applies to buffer stores only, not to counter stores.`},
		{name: "counter with ttl", src: n + "counter \"c\" {\n  sink = \"out\"\n  ttl = \"1h\"\n}\n",
			want: `k.hcl:5,3: counter "c": Unsupported argument; An argument named "ttl" is not expected here: ttl applies to cache stores only, not to counter stores.`},
		{name: "counter with loader", src: n + "counter \"c\" {\n  sink = \"out\"\n  loader \"http\" { url = \"http://h/{key}\" }\n}\n",
			want: `k.hcl:5,3: counter "c": Unsupported block type; Blocks of type "loader" are not expected here: a loader applies to cache stores only, not to counter stores.`},
		{name: "buffer with ttl", src: n + "buffer \"b\" {\n  sink = \"out\"\n  ttl = \"1h\"\n}\n",
			want: `k.hcl:5,3: buffer "b": Unsupported argument; An argument named "ttl" is not expected here: ttl applies to cache stores only, not to buffer stores.`},
		{name: "buffer with dump", src: n + "buffer \"b\" {\n  sink = \"out\"\n  dump = true\n}\n",
			want: `k.hcl:5,3: buffer "b": Unsupported argument; An argument named "dump" is not expected here: dump applies to cache stores only, not to buffer stores.`},
		{name: "json counter with max_size", file: "k.json",
			src:  "{\n\"name\": \"n\",\n\"sink\": {\"stdout\": {\"out\": {}}},\n\"counter\": {\"c\": {\"sink\": \"out\", \"max_size\": 10}}\n}",
			want: `k.json:4,34: counter "c": Unsupported argument; An argument named "max_size" is not expected here: max_size applies to buffer stores only, not to counter stores.`},
		{name: "json cache with sink", file: "k.json",
			src:  "{\n\"name\": \"n\",\n\"sink\": {\"stdout\": {\"out\": {}}},\n\"cache\": {\"c\": {\"sink\": \"out\"}}\n}",
			want: `k.json:4,17: cache "c": Unsupported argument; An argument named "sink" is not expected here: sink applies to counter and buffer stores only, not to cache stores.`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := tc.file
			if file == "" {
				file = "k.hcl"
			}
			_, err := Parse(file, []byte(tc.src))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false for %v", err)
			}
			if err.Error() != tc.want {
				t.Errorf("Parse:\n%s\nwant\n%s", err, tc.want)
			}
		})
	}
}

// TestEveryAttributeAppliesToItsKindsOnly writes each store attribute into a
// block of each kind: it parses where it applies and is refused elsewhere.
func TestEveryAttributeAppliesToItsKindsOnly(t *testing.T) {
	values := map[string]string{
		"sink": `"out"`, "interval": `"5s"`, "jitter": `"1s"`, "retry_max": "3", "retry_delay": `"1s"`,
		"flush_timeout": `"10s"`, "max_size": "10", "ack": `"wal"`, "replicas": "1", "max_bytes": `"1MiB"`, "refresh_interval": `"1m"`,
		"ttl": `"1h"`, "max_entries": "10", "dump": "true", "skip_save": "true",
	}
	for attr, kinds := range storeKinds {
		val, ok := values[attr]
		if !ok {
			t.Fatalf("no test value for %s", attr)
		}
		for _, kind := range []node.StoreKind{node.KindCounter, node.KindBuffer, node.KindCache} {
			t.Run(attr+" in "+string(kind), func(t *testing.T) {
				body := attr + " = " + val + "\n"
				if kind != node.KindCache && attr != "sink" {
					body += "sink = \"out\"\n"
				}
				src := "name = \"n\"\nsink \"stdout\" \"out\" {}\n" + string(kind) + " \"s\" {\n" + body + "}\n"
				_, err := Parse("k.hcl", []byte(src))
				applies := slices.Contains(kinds, kind)
				switch {
				case applies && err != nil:
					t.Errorf("Parse: %v", err)
				case !applies && (err == nil || !strings.Contains(err.Error(), "k.hcl:4,1: "+string(kind)+` "s": Unsupported argument; An argument named "`+attr+`"`)):
					t.Errorf("Parse: %v, want %s refused in a %s", err, attr, kind)
				}
			})
		}
	}
}

// TestAckAndWALSync: ack and wal_fsync reach the node's configuration.
func TestAckAndWALSync(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		sync      time.Duration
		ack       node.Ack
	}{
		{"defaults", "", node.DefaultWALSync, node.AckReplicated},
		{"always", "wal_fsync = \"always\"\n", node.WALSyncAlways, node.AckReplicated},
		{"interval and wal", "wal_fsync = \"20ms\"\n", 20 * time.Millisecond, node.AckWAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ack := ""
			if tc.ack == node.AckWAL {
				ack = "  ack = \"wal\"\n"
			}
			a, err := Parse("a.hcl", []byte("name = \"n\"\n"+tc.src+"sink \"stdout\" \"o\" {}\ncounter \"c\" {\n  sink = \"o\"\n"+ack+"}\n"))
			if err != nil {
				t.Fatal(err)
			}
			if a.Node.WALSync != tc.sync || a.Stores[0].Config.Ack != tc.ack {
				t.Fatalf("wal sync %v, ack %q; want %v, %q", a.Node.WALSync, a.Stores[0].Config.Ack, tc.sync, tc.ack)
			}
		})
	}
}
