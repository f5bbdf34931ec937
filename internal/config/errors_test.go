package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/node"
)

// hoardExample is the example message from the package's brief, line for
// line: interval is on line 12, its value at column 14.
const hoardExample = `name = "n1"
bind_addr = "127.0.0.1:7946"
rpc_addr  = "127.0.0.1:7373"
http_addr = "127.0.0.1:8080"
join      = ["127.0.0.1:7947"]
data_dir  = "./data/n1"

sink "file" "out" { path = "./data/n1/out.jsonl" }

counter "pageviews" {
  sink = "out"
  interval = "5 seconds"
}
`

func TestParseErrors(t *testing.T) {
	// Sources start with the name so that only the error under test shows.
	const n = "name = \"n\"\n"
	const out = "sink \"stdout\" \"out\" {}\n"
	for _, tc := range []struct {
		name string
		file string // default "e.hcl"
		src  string
		want []string // each a substring of the message
	}{
		// Syntax and structure.
		{name: "syntax error", src: n + "bind_addr = \"x\n",
			want: []string{"e.hcl:2,15: Unterminated template string"}},
		{name: "brief example", file: "hoard.hcl", src: hoardExample,
			want: []string{`hoard.hcl:12,14: counter "pageviews": interval: invalid duration "5 seconds"`}},
		{name: "unknown attribute", src: n + "nmae = \"x\"\n",
			want: []string{`e.hcl:2,1: Unsupported argument; An argument named "nmae" is not expected here.`}},
		{name: "unknown block", src: n + "foo \"x\" {}\n",
			want: []string{`e.hcl:2,1: Unsupported block type; Blocks of type "foo" are not expected here.`}},
		{name: "typo in store", src: n + out + "counter \"p\" {\n  sink = \"out\"\n  intervl = \"5s\"\n}\n",
			want: []string{`e.hcl:5,3: counter "p": Unsupported argument; An argument named "intervl" is not expected here. Did you mean "interval"?`}},
		{name: "buffer attribute in counter", src: n + out + "counter \"p\" {\n  sink = \"out\"\n  max_size = 5\n}\n",
			want: []string{`e.hcl:5,3: counter "p": Unsupported argument; An argument named "max_size"`}},
		{name: "cache attribute in buffer", src: n + out + "buffer \"p\" {\n  sink = \"out\"\n  ttl = \"1s\"\n}\n",
			want: []string{`e.hcl:5,3: buffer "p": Unsupported argument; An argument named "ttl"`}},
		{name: "loader in counter", src: n + out + "counter \"p\" {\n  sink = \"out\"\n  loader \"http\" {}\n}\n",
			want: []string{`e.hcl:5,3: counter "p": Unsupported block type; Blocks of type "loader"`}},
		{name: "attribute of another sink type", src: n + "sink \"file\" \"f\" {\n  path = \"x\"\n  url = \"http://x\"\n}\n",
			want: []string{`e.hcl:4,3: sink "file" "f": Unsupported argument; An argument named "url"`}},
		{name: "attribute of another loader type", src: n + "cache \"c\" {\n  loader \"http\" {\n    url = \"http://h/{key}\"\n    query = \"q\"\n  }\n}\n",
			want: []string{`e.hcl:5,5: cache "c": loader "http": Unsupported argument; An argument named "query"`}},
		{name: "missing sink name", src: n + "sink \"file\" {}\n",
			want: []string{`e.hcl:2,13: Missing name for sink`}},
		{name: "extra store label", src: n + "counter \"a\" \"b\" {}\n",
			want: []string{`e.hcl:2,13: Extraneous label for counter`}},
		{name: "attribute twice", src: n + "name = \"m\"\n",
			want: []string{`e.hcl:2,1: Attribute redefined; The argument "name" was already set`}},
		{name: "variables", src: "name = \"${x}\"\n",
			want: []string{`e.hcl:1,11: name: Variables not allowed`}},
		{name: "functions", src: "name = upper(\"x\")\n",
			want: []string{`e.hcl:1,8: name: Function calls not allowed`}},
		{name: "arithmetic failure", src: n + "partitions = (1/0) - (1/0)\n",
			want: []string{`e.hcl:2,14: partitions: Operation failed`}},

		// Types.
		{name: "not a string", src: "name = [\"x\"]\n",
			want: []string{`e.hcl:1,8: name: want a string, got tuple`}},
		{name: "not a whole number", src: n + "partitions = 1.5\n",
			want: []string{`e.hcl:2,14: partitions: want a whole number, got 1.5`}},
		{name: "number too large", src: n + "partitions = 1e300 * 1e300\n",
			want: []string{`e.hcl:2,14: partitions: want a whole number, got a number out of range`}},
		{name: "number too small", src: n + "partitions = 1e-300 * 1e-300\n",
			want: []string{`e.hcl:2,14: partitions: want a whole number, got a number out of range`}},
		{name: "number literal out of range", src: n + "partitions = 1e400\n",
			want: []string{`e.hcl:2,14: partitions: number out of range`}},
		{name: "huge number in a template", src: "name = \"${1e9999999}\"\n",
			want: []string{`e.hcl:1,11: name: number out of range`}},
		{name: "not a bool", src: n + "cache \"c\" { dump = \"yes\" }\n",
			want: []string{`e.hcl:2,20: cache "c": dump: want true or false, got string`}},
		{name: "duration not a string", src: n + out + "counter \"p\" {\n  sink = \"out\"\n  interval = [1]\n}\n",
			want: []string{`e.hcl:5,14: counter "p": interval: want a duration such as "5s", got tuple`}},
		{name: "duration without unit", src: n + out + "counter \"p\" {\n  sink = \"out\"\n  interval = 5\n}\n",
			want: []string{`e.hcl:5,14: counter "p": interval: want a duration such as "5s", got number`}},
		{name: "interval below the floor", src: n + out + "counter \"p\" {\n  sink = \"out\"\n  interval = \"1ns\"\n}\n",
			want: []string{`e.hcl:5,14: counter "p": interval: 1ns is below the floor of 10ms: each round walks every partition`}},
		{name: "refresh interval below the floor", src: n + "cache \"c\" {\n  refresh_interval = \"1ms\"\n  loader \"http\" { url = \"http://h/{key}\" }\n}\n",
			want: []string{`e.hcl:3,22: cache "c": refresh_interval: 1ms is below the floor of 10ms`}},
		{name: "duration string without unit", src: n + out + "counter \"p\" {\n  sink = \"out\"\n  interval = \"5\"\n}\n",
			want: []string{`e.hcl:5,14: counter "p": interval: invalid duration "5"`}},
		{name: "number for a string", src: "name = 5\n",
			want: []string{`e.hcl:1,8: name: want a string, got number`}},
		{name: "number in join", src: n + "join = [\"a:1\", 2]\n",
			want: []string{`e.hcl:2,8: join: want a list of strings, element 1 is a number`}},
		{name: "join not a list", src: n + "join = \"h:1\"\n",
			want: []string{`e.hcl:2,8: join: want a list of strings, got string`}},
		{name: "join null element", src: n + "join = [\"h:1\", null]\n",
			want: []string{`e.hcl:2,8: join: element 1 is null`}},
		{name: "headers not a map of strings", src: n + "sink \"http\" \"h\" {\n  url = \"http://h\"\n  headers = { a = [1] }\n}\n",
			want: []string{`e.hcl:4,13: sink "http" "h": headers: want a map of strings, value of "a" is a tuple`}},
		{name: "headers not a map", src: n + "sink \"http\" \"h\" {\n  url = \"http://h\"\n  headers = \"a\"\n}\n",
			want: []string{`e.hcl:4,13: sink "http" "h": headers: want a map of strings, got string`}},
		{name: "max_bytes bad size", src: n + out + "buffer \"b\" {\n  sink = \"out\"\n  max_bytes = \"64 megs\"\n}\n",
			want: []string{`e.hcl:5,15: buffer "b": max_bytes: invalid size "64 megs"`}},
		{name: "max_bytes bad type", src: n + out + "buffer \"b\" {\n  sink = \"out\"\n  max_bytes = true\n}\n",
			want: []string{`e.hcl:5,15: buffer "b": max_bytes: want a byte count or a size such as "64MiB", got bool`}},
		{name: "max_bytes fraction", src: n + out + "buffer \"b\" {\n  sink = \"out\"\n  max_bytes = 1.5\n}\n",
			want: []string{`e.hcl:5,15: buffer "b": max_bytes: want a whole number of bytes, got 1.5`}},

		// Top-level values.
		{name: "name missing", src: "partitions = 7\n",
			want: []string{`e.hcl:1,1: name: required`}},
		{name: "name empty", src: "name = \"\"\n",
			want: []string{`e.hcl:1,8: name: required`}},
		{name: "name invalid", src: "name = \"a b\"\n",
			want: []string{`e.hcl:1,8: name: invalid name "a b"`}},
		{name: "name dot-dot", src: "name = \"..\"\n",
			want: []string{`e.hcl:1,8: name: invalid name ".."`}},
		{name: "cluster empty", src: n + "cluster = \"\"\n",
			want: []string{`e.hcl:2,11: cluster: must not be empty`}},
		{name: "bind_addr without port", src: n + "bind_addr = \"127.0.0.1\"\n",
			want: []string{`e.hcl:2,13: bind_addr: invalid address "127.0.0.1": missing port in address`}},
		{name: "rpc_addr port out of range", src: n + "rpc_addr = \"h:70000\"\n",
			want: []string{`e.hcl:2,12: rpc_addr: invalid address "h:70000": port "70000" is not a number from 0 to 65535`}},
		{name: "http_addr named port", src: n + "http_addr = \"localhost:http\"\n",
			want: []string{`e.hcl:2,13: http_addr: invalid address "localhost:http": port "http" is not a number`}},
		{name: "resp_addr without port", src: n + "resp_addr = \"127.0.0.1\"\n",
			want: []string{`e.hcl:2,13: resp_addr: invalid address "127.0.0.1": missing port in address`}},
		{name: "resp_separator with a space", src: n + "resp_separator = \": \"\n",
			want: []string{`e.hcl:2,18: resp_separator: ": ": want a short separator without spaces, such as ":" or "/"`}},
		{name: "advertise_addr without host", src: n + "advertise_addr = \":7946\"\n",
			want: []string{`e.hcl:2,18: advertise_addr: invalid address ":7946": missing host`}},
		{name: "join port 0", src: n + "join = [\"a:1\", \"b:0\"]\n",
			want: []string{`e.hcl:2,16: join: invalid address "b:0": port 0 cannot be dialled`}},
		{name: "data_dir empty", src: n + "data_dir = \"\"\n",
			want: []string{`e.hcl:2,12: data_dir: must not be empty`}},
		{name: "log_level", src: n + "log_level = \"verbose\"\n",
			want: []string{`e.hcl:2,13: log_level: invalid level "verbose", want one of trace, debug, info, warn, error`}},
		{name: "partitions zero", src: n + "partitions = 0\n",
			want: []string{`e.hcl:2,14: partitions: must be at least 1, got 0`}},

		// Sinks.
		{name: "unknown sink type", src: n + "sink \"kafka\" \"k\" { brokers = [] }\n",
			want: []string{`e.hcl:2,6: sink "kafka" "k": type: unknown sink type "kafka", want file, stdout, http or postgres`}},
		{name: "invalid sink name", src: n + "sink \"stdout\" \"a/b\" {}\n",
			want: []string{`e.hcl:2,15: sink "stdout" "a/b": name: invalid name "a/b"`}},
		{name: "duplicate sink", src: n + out + "sink \"file\" \"out\" { path = \"x\" }\n",
			want: []string{`e.hcl:3,13: sink "file" "out": name: duplicate sink name "out", first declared at e.hcl:2,1`}},
		{name: "file sink without path", src: n + "sink \"file\" \"f\" {}\n",
			want: []string{`e.hcl:2,1: sink "file" "f": path: required for a file sink`}},
		{name: "http sink without url", src: n + "sink \"http\" \"h\" {}\n",
			want: []string{`e.hcl:2,1: sink "http" "h": url: required for an http sink`}},
		{name: "http sink ftp url", src: n + "sink \"http\" \"h\" { url = \"ftp://h/x\" }\n",
			want: []string{`e.hcl:2,25: sink "http" "h": url: invalid URL "ftp://h/x": scheme must be http or https`}},
		{name: "http sink url without host", src: n + "sink \"http\" \"h\" { url = \"http:///x\" }\n",
			want: []string{`e.hcl:2,25: sink "http" "h": url: invalid URL "http:///x": missing host`}},
		{name: "http sink bad header name", src: n + "sink \"http\" \"h\" {\n  url = \"http://h\"\n  headers = { \"a b\" = \"x\" }\n}\n",
			want: []string{`e.hcl:4,13: sink "http" "h": headers: invalid header name "a b"`}},
		{name: "http sink header with newline", src: n + "sink \"http\" \"h\" {\n  url = \"http://h\"\n  headers = { a = \"x\\ny\" }\n}\n",
			want: []string{`e.hcl:4,13: sink "http" "h": headers: value of header "a" contains a line break`}},
		{name: "negative sink timeout", src: n + "sink \"http\" \"h\" {\n  url = \"http://h\"\n  timeout = \"-1s\"\n}\n",
			want: []string{`e.hcl:4,13: sink "http" "h": timeout: must not be negative, got -1s`}},
		{name: "postgres sink without dsn", src: n + "sink \"postgres\" \"p\" {}\n",
			want: []string{`e.hcl:2,1: sink "postgres" "p": dsn: required for a postgres sink`}},
		{name: "postgres sink bad table", src: n + "sink \"postgres\" \"p\" {\n  dsn = \"x\"\n  counters_table = \"c; drop table x\"\n}\n",
			want: []string{`e.hcl:4,20: sink "postgres" "p": counters_table: invalid table name "c; drop table x"`}},
		{name: "postgres sink empty statements", src: n + "sink \"postgres\" \"p\" {\n  dsn = \"x\"\n  counters_statement = \"\"\n  values_statement = \" \\n \"\n}\n",
			want: []string{
				`e.hcl:4,24: sink "postgres" "p": counters_statement: must not be empty; leave it out to write the counters table`,
				`e.hcl:5,22: sink "postgres" "p": values_statement: must not be empty; leave it out to write the values table`,
			}},
		{name: "statement in a file sink", src: n + "sink \"file\" \"f\" {\n  path = \"x\"\n  counters_statement = \"x\"\n}\n",
			want: []string{`e.hcl:4,3: sink "file" "f": Unsupported argument; An argument named "counters_statement" is not expected here.`}},

		// Stores.
		{name: "invalid store name", src: n + out + "counter \"a:b\" { sink = \"out\" }\n",
			want: []string{`e.hcl:3,9: counter "a:b": name: invalid name "a:b"`}},
		{name: "duplicate store across kinds", src: n + out + "counter \"x\" { sink = \"out\" }\nbuffer \"x\" { sink = \"out\" }\n",
			want: []string{`e.hcl:4,8: buffer "x": name: duplicate store name "x", first declared at e.hcl:3,1`}},
		{name: "counter without sink", src: n + "counter \"c\" {}\n",
			want: []string{`e.hcl:2,1: counter "c": sink: required for a counter store`}},
		{name: "buffer without sink", src: n + "buffer \"b\" {}\n",
			want: []string{`e.hcl:2,1: buffer "b": sink: required for a buffer store`}},
		{name: "unknown sink", src: n + out + "buffer \"b\" { sink = \"ot\" }\n",
			want: []string{`e.hcl:3,21: buffer "b": sink: no sink named "ot" (declared: "out")`}},
		{name: "sink in a cache", src: n + "cache \"c\" { sink = \"x\" }\n",
			want: []string{`e.hcl:2,13: cache "c": Unsupported argument; An argument named "sink" is not expected here: sink applies to counter and buffer stores only, not to cache stores.`}},
		{name: "negative retry_max", src: n + out + "counter \"c\" {\n  sink = \"out\"\n  retry_max = -1\n}\n",
			want: []string{`e.hcl:5,15: counter "c": retry_max: must not be negative, got -1`}},
		{name: "negative retry_delay", src: n + out + "counter \"c\" {\n  sink = \"out\"\n  retry_delay = \"-1s\"\n}\n",
			want: []string{`e.hcl:5,17: counter "c": retry_delay: must not be negative, got -1s`}},
		{name: "negative max_size", src: n + out + "buffer \"b\" {\n  sink = \"out\"\n  max_size = -5\n}\n",
			want: []string{`e.hcl:5,14: buffer "b": max_size: must not be negative, got -5`}},
		{name: "negative max_bytes", src: n + out + "buffer \"b\" {\n  sink = \"out\"\n  max_bytes = -5\n}\n",
			want: []string{`e.hcl:5,15: buffer "b": max_bytes: must not be negative, got -5`}},
		{name: "negative ttl", src: n + "cache \"c\" { ttl = \"-1h\" }\n",
			want: []string{`e.hcl:2,19: cache "c": ttl: must not be negative, got -1h0m0s`}},
		{name: "negative max_entries", src: n + "cache \"c\" { max_entries = -1 }\n",
			want: []string{`e.hcl:2,27: cache "c": max_entries: must not be negative, got -1`}},
		{name: "unknown ack", src: n + out + "counter \"c\" {\n  sink = \"out\"\n  ack = \"disk\"\n}\n",
			want: []string{`e.hcl:5,9: counter "c": ack: want "memory", "wal" or "replicated", got "disk"`}},
		{name: "ack on a cache", src: n + "cache \"c\" { ack = \"wal\" }\n",
			want: []string{`cache "c"`, "ack applies to counter and buffer stores only, not to cache stores"}},
		{name: "wal_fsync zero", src: n + "wal_fsync = \"0s\"\n",
			want: []string{`e.hcl:2,13: wal_fsync: want "always" or a positive duration such as "100ms", got "0s"`}},
		{name: "wal_fsync not a duration", src: n + "wal_fsync = \"sometimes\"\n",
			want: []string{`wal_fsync: want "always" or a positive duration`}},
		{name: "zero interval", src: n + out + "counter \"c\" {\n  sink = \"out\"\n  interval = \"0s\"\n}\n",
			want: []string{`e.hcl:5,14: counter "c": interval: must be positive for a store with a sink; leave it out for the default 5s`}},
		{name: "jitter above interval", src: n + out + "counter \"c\" {\n  sink = \"out\"\n  interval = \"1s\"\n  jitter = \"2s\"\n}\n",
			want: []string{`e.hcl:6,12: counter "c": jitter: 2s must not exceed interval 1s`}},
		{name: "interval below default jitter", src: n + out + "counter \"c\" {\n  sink = \"out\"\n  jitter = \"1s\"\n  interval = \"500ms\"\n}\n",
			want: []string{`e.hcl:5,12: counter "c": jitter: 1s must not exceed interval 500ms`}},

		// A zero that would mean the node's default is refused, naming the
		// spellings that work; "none" turns a setting off where it can be.
		{name: "zero jitter", src: n + out + "counter \"c\" {\n  sink = \"out\"\n  interval = \"10s\"\n  jitter = \"0s\"\n}\n",
			want: []string{`e.hcl:6,12: counter "c": jitter: must be positive; write "none" for no jitter, or leave it out for the default 2s`}},
		{name: "zero flush_timeout", src: n + out + "counter \"c\" {\n  sink = \"out\"\n  flush_timeout = \"0s\"\n}\n",
			want: []string{`e.hcl:5,19: counter "c": flush_timeout: must be positive; write "none" for no limit, or leave it out for the default 30s`}},
		{name: "zero retry_max", src: n + out + "counter \"c\" {\n  sink = \"out\"\n  retry_max = 0\n}\n",
			want: []string{`e.hcl:5,15: counter "c": retry_max: must be at least 1, the number of attempts with the first included (1: no retry); leave it out for the default 5`}},
		{name: "zero retry_delay", src: n + out + "counter \"c\" {\n  sink = \"out\"\n  retry_delay = \"0s\"\n}\n",
			want: []string{`e.hcl:5,17: counter "c": retry_delay: must be positive; leave it out for the default 1s`}},
		{name: "zero max_bytes", src: n + out + "buffer \"b\" {\n  sink = \"out\"\n  max_bytes = \"0MiB\"\n}\n",
			want: []string{`e.hcl:5,15: buffer "b": max_bytes: must be positive; write "none" for no bound, or leave it out for the default 64MiB`}},
		{name: "zero loader timeout", src: n + "cache \"c\" {\n  loader \"http\" {\n    url = \"http://h/{key}\"\n    timeout = \"0s\"\n  }\n}\n",
			want: []string{`e.hcl:5,15: cache "c": loader "http": timeout: must be positive; leave it out for the default 10s`}},
		{name: "negative jitter", src: n + out + "counter \"c\" {\n  sink = \"out\"\n  jitter = \"-1s\"\n}\n",
			want: []string{`e.hcl:5,12: counter "c": jitter: must not be negative, got -1s; write "none" for no jitter`}},
		{name: "negative flush_timeout", src: n + out + "counter \"c\" {\n  sink = \"out\"\n  flush_timeout = \"-1s\"\n}\n",
			want: []string{`e.hcl:5,19: counter "c": flush_timeout: must not be negative, got -1s; write "none" for no limit`}},
		{name: "none for a setting that cannot be off", src: n + out + "counter \"c\" {\n  sink = \"out\"\n  interval = \"none\"\n  retry_max = \"none\"\n}\n",
			want: []string{
				`e.hcl:5,14: counter "c": interval: invalid duration "none"`,
				`e.hcl:6,15: counter "c": retry_max: want a whole number, got "none"`,
			}},
		{name: "json zero flush_timeout", file: "e.json",
			src:  "{\n\"name\": \"n\",\n\"sink\": {\"stdout\": {\"o\": {}}},\n\"counter\": {\"c\": {\"sink\": \"o\", \"flush_timeout\": \"0s\"}}\n}",
			want: []string{`e.json:4,49: counter "c": flush_timeout: must be positive; write "none" for no limit, or leave it out for the default 30s`}},

		// Loaders.
		{name: "unknown loader type", src: n + "cache \"c\" {\n  loader \"redis\" {}\n}\n",
			want: []string{`e.hcl:3,10: cache "c": loader "redis": type: unknown loader type "redis", want http or postgres`}},
		{name: "http loader without url", src: n + "cache \"c\" {\n  loader \"http\" {}\n}\n",
			want: []string{`e.hcl:3,3: cache "c": loader "http": url: required for an http loader`}},
		{name: "http loader url without key", src: n + "cache \"c\" {\n  loader \"http\" { url = \"http://h/users\" }\n}\n",
			want: []string{`e.hcl:3,25: cache "c": loader "http": url: "http://h/users" does not contain {key}`}},
		{name: "http loader bad url", src: n + "cache \"c\" {\n  loader \"http\" { url = \"h/{key}\" }\n}\n",
			want: []string{`e.hcl:3,25: cache "c": loader "http": url: invalid URL "h/key": scheme must be http or https`}},
		{name: "postgres loader incomplete", src: n + "cache \"c\" {\n  loader \"postgres\" { timeout = \"1s\" }\n}\n",
			want: []string{
				`e.hcl:3,3: cache "c": loader "postgres": dsn: required for a postgres loader`,
				`e.hcl:3,3: cache "c": loader "postgres": query: required for a postgres loader`,
			}},
		{name: "negative loader timeout", src: n + "cache \"c\" {\n  loader \"postgres\" {\n    dsn = \"d\"\n    query = \"q\"\n    timeout = \"-5s\"\n  }\n}\n",
			want: []string{`e.hcl:6,15: cache "c": loader "postgres": timeout: must not be negative, got -5s`}},
		{name: "two loaders", src: n + "cache \"c\" {\n  loader \"http\" { url = \"http://h/{key}\" }\n  loader \"http\" { url = \"http://h/{key}\" }\n}\n",
			want: []string{`e.hcl:4,3: cache "c": loader: only one loader block is allowed, the first is at e.hcl:3,3`}},
		{name: "empty init_url", src: n + "cache \"c\" {\n  loader \"http\" {\n    url = \"http://h/{key}\"\n    init_url = \"\"\n  }\n}\n",
			want: []string{`e.hcl:5,16: cache "c": loader "http": init_url: must not be empty; leave it out to start the cache empty`}},
		{name: "init_url with key", src: n + "cache \"c\" {\n  loader \"http\" {\n    url = \"http://h/{key}\"\n    init_url = \"http://h/all/{key}\"\n  }\n}\n",
			want: []string{`e.hcl:5,16: cache "c": loader "http": init_url: "http://h/all/{key}" contains {key}: one GET returns every entry`}},
		{name: "init_url bad url", src: n + "cache \"c\" {\n  loader \"http\" {\n    url = \"http://h/{key}\"\n    init_url = \"ftp://h/all\"\n  }\n}\n",
			want: []string{`e.hcl:5,16: cache "c": loader "http": init_url: invalid URL "ftp://h/all": scheme must be http or https`}},
		{name: "init_url not a string", src: n + "cache \"c\" {\n  loader \"http\" {\n    url = \"http://h/{key}\"\n    init_url = 5\n  }\n}\n",
			want: []string{`e.hcl:5,16: cache "c": loader "http": init_url: want a string, got number`}},
		{name: "blank init_query", src: n + "cache \"c\" {\n  loader \"postgres\" {\n    dsn = \"d\"\n    query = \"q\"\n    init_query = \"  \"\n  }\n}\n",
			want: []string{`e.hcl:6,18: cache "c": loader "postgres": init_query: must not be empty; leave it out to start the cache empty`}},
		{name: "init_query in an http loader", src: n + "cache \"c\" {\n  loader \"http\" {\n    url = \"http://h/{key}\"\n    init_query = \"select k, v from t\"\n  }\n}\n",
			want: []string{`e.hcl:5,5: cache "c": loader "http": Unsupported argument; An argument named "init_query"`}},
		{name: "init_url in a postgres loader", src: n + "cache \"c\" {\n  loader \"postgres\" {\n    dsn = \"d\"\n    query = \"q\"\n    init_url = \"http://h/all\"\n  }\n}\n",
			want: []string{`e.hcl:6,5: cache "c": loader "postgres": Unsupported argument; An argument named "init_url"`}},
		{name: "json empty init_url", file: "e.json",
			src:  "{\n\"name\": \"n\",\n\"cache\": {\"c\": {\"loader\": {\"http\": {\"url\": \"http://h/{key}\", \"init_url\": \"\"}}}}\n}",
			want: []string{`e.json:3,74: cache "c": loader "http": init_url: must not be empty; leave it out to start the cache empty`}},

		// JSON.
		{name: "json unknown property", file: "e.json", src: `{"name": "n", "nmae": 1}`,
			want: []string{`e.json:1,15: Extraneous JSON object property; No argument or block type is named "nmae".`}},
		{name: "json unknown property in store", file: "e.json",
			src:  "{\n\"name\": \"n\",\n\"cache\": {\"c\": {\"tll\": \"1s\"}}\n}",
			want: []string{`e.json:3,17: cache "c": Extraneous JSON object property; No argument or block type is named "tll". Did you mean "ttl"?`}},
		{name: "json invalid duration", file: "e.json",
			src:  "{\n\"name\": \"n\",\n\"cache\": {\"c\": {\"ttl\": \"1 hour\"}}\n}",
			want: []string{`e.json:3,24: cache "c": ttl: invalid duration "1 hour"`}},
		{name: "json missing block label", file: "e.json", src: `{"name": "n", "sink": {"file": {}}}`,
			want: []string{`e.json:1,32: Missing block label`}},
		{name: "json join element", file: "e.json", src: `{"name": "n", "join": ["a:1", "b"]}`,
			want: []string{`e.json:1,31: join: invalid address "b": missing port in address`}},
		{name: "json syntax error", file: "e.json", src: "{\"name\": \"n\",}",
			want: []string{`e.json:1,`}},

		// Several problems: all reported, one per line, in file order.
		{name: "several", src: "log_level = \"loud\"\n" + out +
			"counter \"c\" {\n  sink = \"nope\"\n  interval = \"soon\"\n  bogus = 1\n}\npartitions = -1\n",
			want: []string{
				`e.hcl:1,1: name: required` + "\n" +
					`e.hcl:1,13: log_level: invalid level "loud"`,
				"\n" + `e.hcl:4,10: counter "c": sink: no sink named "nope"`,
				"\n" + `e.hcl:5,14: counter "c": interval: invalid duration "soon"`,
				"\n" + `e.hcl:6,3: counter "c": Unsupported argument; An argument named "bogus"`,
				"\n" + `e.hcl:8,14: partitions: must be at least 1, got -1`,
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := tc.file
			if file == "" {
				file = "e.hcl"
			}
			a, err := Parse(file, []byte(tc.src))
			if err == nil {
				t.Fatalf("Parse succeeded, want an error; got %+v", a)
			}
			if a != nil {
				t.Errorf("Parse returned an Agent with its error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false for %v", err)
			}
			var cerr *Error
			if !errors.As(err, &cerr) || !cerr.Diagnostics.HasErrors() {
				t.Errorf("error %T is not an *Error with diagnostics", err)
			}
			msg := err.Error()
			for _, line := range strings.Split(msg, "\n") {
				if !strings.HasPrefix(line, file+":") {
					t.Errorf("line %q does not start with the file's position", line)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error\n%s\ndoes not contain\n%s", msg, w)
				}
			}
		})
	}
}

func TestParseValid(t *testing.T) {
	// Edge cases that must not be errors.
	const n = "name = \"n\"\n"
	for _, tc := range []struct{ name, src string }{
		{"listen on any port and interface", n + "bind_addr = \":0\"\nrpc_addr = \"0.0.0.0:0\"\nhttp_addr = \"[::]:0\"\n"},
		{"retry_max one", n + "sink \"stdout\" \"o\" {}\ncounter \"c\" {\n  sink = \"o\"\n  retry_max = 1\n}\n"},
		{"jitter equal to interval", n + "sink \"stdout\" \"o\" {}\ncounter \"c\" {\n  sink = \"o\"\n  interval = \"1s\"\n  jitter = \"1s\"\n}\n"},
		{"cache without loader", n + "cache \"c\" {}\n"},
		{"null attributes keep defaults", n + "log_level = null\npartitions = null\n"},
		{"arithmetic", n + "partitions = 1000 + 21\n"},
		{"comment keys in json", `{"//": "x", "name": "n", "cache": {"c": {"//": "y"}}}`},
		{"size as string number", n + "sink \"stdout\" \"o\" {}\nbuffer \"b\" {\n  sink = \"o\"\n  max_bytes = \"4096\"\n}\n"},
		{"none wherever a setting can be off", n + "sink \"stdout\" \"o\" {}\n" +
			"buffer \"b\" {\n  sink = \"o\"\n  jitter = \"none\"\n  flush_timeout = \"none\"\n  max_size = \"none\"\n  max_bytes = \"none\"\n}\n" +
			"cache \"c\" {\n  ttl = \"none\"\n  refresh_interval = \"none\"\n  max_entries = \"none\"\n}\n"},
		{"zero where it means none to the node", n + "sink \"stdout\" \"o\" {}\n" +
			"buffer \"b\" {\n  sink = \"o\"\n  max_size = 0\n}\n" +
			"cache \"c\" {\n  ttl = \"0s\"\n  refresh_interval = \"0s\"\n  max_entries = 0\n}\n"},
		{"none in json", `{"name": "n", "sink": {"stdout": {"o": {}}}, "counter": {"c": {"sink": "o", "flush_timeout": "none", "jitter": "none"}}}`},
		{"number as string", n + "partitions = \"7\"\n"},
		{"store and sink may share a name", n + "sink \"stdout\" \"x\" {}\ncounter \"x\" { sink = \"x\" }\n"},
		{"empty file data_dir comes from name", n},
		{"write-ahead log", n + "wal_fsync = \"always\"\nsink \"stdout\" \"o\" {}\ncounter \"c\" {\n  sink = \"o\"\n  ack = \"wal\"\n}\nbuffer \"b\" {\n  sink = \"o\"\n  ack = \"memory\"\n}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse("v.hcl", []byte(tc.src)); err != nil {
				t.Errorf("Parse: %v", err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	withName := func(mod func(a *Agent)) func(*testing.T) *Agent {
		return func(*testing.T) *Agent {
			a := Default()
			a.Node.Name = "n"
			if mod != nil {
				mod(&a)
			}
			return &a
		}
	}
	loaded := func(mod func(a *Agent)) func(*testing.T) *Agent {
		return func(t *testing.T) *Agent {
			t.Helper()
			a, err := Load("testdata/design.hcl")
			if err != nil {
				t.Fatal(err)
			}
			mod(a)
			return a
		}
	}
	for _, tc := range []struct {
		name  string
		agent func(*testing.T) *Agent
		want  string // the whole message; "" for valid
	}{
		{"default with a name", withName(nil), ""},
		{"default without a name", func(*testing.T) *Agent { a := Default(); return &a }, "name: required"},
		{"bad rpc flag", withName(func(a *Agent) { a.Node.RPCAddr = "localhost" }),
			`rpc_addr: invalid address "localhost": missing port in address, want host:port`},
		{"bad join flag", withName(func(a *Agent) { a.Node.Join = []string{"a:1", "b:x"} }),
			`join: invalid address "b:x": port "x" is not a number from 0 to 65535`},
		{"http disabled", withName(func(a *Agent) { a.Node.HTTPAddr = "" }), ""},
		{"bad name flag", withName(func(a *Agent) { a.Node.Name = "a/b" }),
			`name: invalid name "a/b", want 1 to 64 letters, digits, '_', '.' or '-'`},
		{"several flags", withName(func(a *Agent) { a.Node.BindAddr = "x"; a.Node.RPCAddr = "y" }),
			`bind_addr: invalid address "x": missing port in address, want host:port` + "\n" +
				`rpc_addr: invalid address "y": missing port in address, want host:port`},
		{"flag over a file", loaded(func(a *Agent) { a.Node.BindAddr = "nope" }),
			`bind_addr: invalid address "nope": missing port in address, want host:port`},
		{"store from a file keeps its position", loaded(func(a *Agent) { a.Stores[1].Sink = "gone" }),
			`testdata/design.hcl:17,1: buffer "events": sink: no sink named "gone" (declared: "out")`},
		{"built store", withName(func(a *Agent) {
			a.Stores = []Store{{Config: node.StoreConfig{Kind: node.KindCounter, Name: "c", Interval: time.Second}}}
		}), `counter "c": sink: required for a counter store`},
		{"unknown kind", withName(func(a *Agent) {
			a.Stores = []Store{{Config: node.StoreConfig{Kind: "queue", Name: "q"}}}
		}), `queue "q": kind: unknown store kind "queue", want counter, buffer or cache`},
		{"loader on a counter", withName(func(a *Agent) {
			a.Sinks = []Sink{{Type: SinkStdout, Name: "o"}}
			a.Stores = []Store{{Sink: "o", Config: node.StoreConfig{Kind: node.KindCounter, Name: "c", Interval: time.Second}, Loader: &Loader{Type: LoaderHTTP}}}
		}), `counter "c": loader: only cache stores have a loader`},
		{"built postgres sink without tables", withName(func(a *Agent) {
			a.Sinks = []Sink{{Type: SinkPostgres, Name: "p", DSN: "x"}}
		}), `sink "postgres" "p": counters_table: invalid table name ""` + ", want an SQL identifier, optionally schema-qualified\n" +
			`sink "postgres" "p": values_table: invalid table name "", want an SQL identifier, optionally schema-qualified`},
		{"built postgres sink with a blank statement", withName(func(a *Agent) {
			a.Sinks = []Sink{{Type: SinkPostgres, Name: "p", DSN: "x", CountersTable: "c", ValuesTable: "v", ValuesStatement: " \t"}}
		}), `sink "postgres" "p": values_statement: must not be blank`},
		{"built postgres sink with statements", withName(func(a *Agent) {
			a.Sinks = []Sink{{Type: SinkPostgres, Name: "p", DSN: "x", CountersTable: "c", ValuesTable: "v", CountersStatement: "SELECT $1, $2"}}
		}), ""},
		{"built store with the node's none", withName(func(a *Agent) {
			a.Sinks = []Sink{{Type: SinkStdout, Name: "o"}}
			a.Stores = []Store{{Sink: "o", Config: node.StoreConfig{Kind: node.KindBuffer, Name: "b", Jitter: -1, FlushTimeout: -1, MaxBytes: -1}}}
		}), ""},
		{"built cache with a sink", withName(func(a *Agent) {
			a.Sinks = []Sink{{Type: SinkStdout, Name: "o"}}
			a.Stores = []Store{{Sink: "o", Config: node.StoreConfig{Kind: node.KindCache, Name: "c"}}}
		}), `cache "c": sink: cache stores take no sink`},
		{"built store negative where the node has no none", withName(func(a *Agent) {
			a.Sinks = []Sink{{Type: SinkStdout, Name: "o"}}
			a.Stores = []Store{{Sink: "o", Config: node.StoreConfig{Kind: node.KindCounter, Name: "c", RetryMax: -1}}}
		}), `counter "c": retry_max: must not be negative, got -1`},
		{"built loaders with inits", withName(func(a *Agent) {
			a.Stores = []Store{
				{Config: node.StoreConfig{Kind: node.KindCache, Name: "h"}, Loader: &Loader{Type: LoaderHTTP, URL: "http://h/{key}", InitURL: "http://h/all"}},
				{Config: node.StoreConfig{Kind: node.KindCache, Name: "p"}, Loader: &Loader{Type: LoaderPostgres, DSN: "d", Query: "q", InitQuery: "select k, v from t"}},
			}
		}), ""},
		{"built loaders with bad inits", withName(func(a *Agent) {
			a.Stores = []Store{
				{Config: node.StoreConfig{Kind: node.KindCache, Name: "h"}, Loader: &Loader{Type: LoaderHTTP, URL: "http://h/{key}", InitURL: "h/all"}},
				{Config: node.StoreConfig{Kind: node.KindCache, Name: "p"}, Loader: &Loader{Type: LoaderPostgres, DSN: "d", Query: "q", InitQuery: " \n"}},
			}
		}), `cache "h": loader "http": init_url: invalid URL "h/all": scheme must be http or https` + "\n" +
			`cache "p": loader "postgres": init_query: must not be blank`},
		{"duplicate built stores", withName(func(a *Agent) {
			a.Stores = []Store{{Config: node.StoreConfig{Kind: node.KindCache, Name: "c"}}, {Config: node.StoreConfig{Kind: node.KindCache, Name: "c"}}}
		}), `cache "c": name: duplicate store name "c"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.agent(t)
			err := a.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate succeeded, want %s", tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false for %v", err)
			}
			if err.Error() != tc.want {
				t.Errorf("Validate:\n%s\nwant\n%s", err, tc.want)
			}
		})
	}
}

func TestValidateFillsDataDir(t *testing.T) {
	a := Default()
	a.Node.Name = "n7"
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	if a.Node.DataDir != "./data/n7" {
		t.Errorf("DataDir = %q, want ./data/n7", a.Node.DataDir)
	}
	a.Node.DataDir = "/srv/hoard"
	if err := a.Validate(); err != nil || a.Node.DataDir != "/srv/hoard" {
		t.Errorf("Validate changed a set DataDir to %q (err %v)", a.Node.DataDir, err)
	}
}
