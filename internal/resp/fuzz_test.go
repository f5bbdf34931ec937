package resp

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/redcon"

	"github.com/hoard-dev/hoard/internal/auth"
	"github.com/hoard-dev/hoard/internal/op"
)

// catalog is a fixed set of stores: all that planning a command asks of
// the node. Its Start is never called while planning.
type catalog map[string]string

func (c catalog) Start(*op.Op, func(op.Result)) (op.Result, bool) {
	panic("planning started an op")
}
func (c catalog) StoreKind(store string) string { return c[store] }
func (c catalog) Info() Info                    { return Info{} }

// FuzzReadCommands feeds any bytes, in chunks of any size, to the RESP
// reader and plans and answers every command it parses, with empty
// results: nothing may panic or spin, every command gets exactly one
// reply, no op is planned for a command refused, and the reader never
// holds more than its limit, and takes from its memory exactly what its
// buffer holds beyond smallBuf, giving it all back at the end.
func FuzzReadCommands(f *testing.F) {
	for _, seed := range []string{
		"*2\r\n$4\r\nINCR\r\n$15\r\npageviews:/home\r\n",
		"*3\r\n$6\r\nINCRBY\r\n$3\r\npv:\r\n$2\r\n-5\r\n",
		"*4\r\n$5\r\nRPUSH\r\n$8\r\nevents:u\r\n$1\r\na\r\n$0\r\n\r\n",
		"*4\r\n$6\r\nLRANGE\r\n$8\r\nevents:u\r\n$1\r\n0\r\n$2\r\n-1\r\n",
		"*5\r\n$3\r\nSET\r\n$7\r\nusers:k\r\n$1\r\nv\r\n$2\r\nPX\r\n$3\r\n100\r\n",
		"*3\r\n$4\r\nMGET\r\n$7\r\nusers:a\r\n$4\r\npv:b\r\n",
		"PING\r\nECHO hi\r\nHELLO 3\r\nCLIENT SETNAME x\r\nSELECT 0\r\nCOMMAND DOCS\r\nINFO keyspace\r\nQUIT\r\n",
		"*1\r\n$999999999\r\n",
		"*1000000000000000000\r\n", "*2\r\n$-1\r\n", "*1\r\n$3\r\nabcde\r\n",
		"*-1\r\n", "$3\r\nfoo\r\n", "\"unbalanced\r\n", "*2\r\n$3\r\nDEL\r\n$1\r\n:\r\n",
	} {
		f.Add([]byte(seed), uint8(7))
	}
	kinds := catalog{"pageviews": op.StoreCounter, "pv": op.StoreCounter, "events": op.StoreBuffer, "users": op.StoreCache}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		s := &Server{backend: kinds, cfg: Config{Separator: ":", Version: "test"}, budget: newBudget(0)} // as New makes it: INFO reads the budget
		var out bytes.Buffer
		c := &conn{s: s, wr: redcon.NewWriter(&out), keys: map[opKey]struct{}{}, role: auth.RoleAdmin}
		const limit = 1 << 14
		mem := &tally{}
		rd := newReader(&chunked{data: data, size: int(chunk)%64 + 1}, limit, mem)
		var cmds [][][]byte
		for {
			var err error
			cmds, err = rd.read(cmds)
			if len(rd.buf) > limit {
				t.Fatalf("the reader holds %d bytes, over its limit of %d", len(rd.buf), limit)
			}
			if want := max(0, len(rd.buf)-smallBuf); mem.held != want {
				t.Fatalf("the reader took %d bytes for a buffer of %d; want %d", mem.held, len(rd.buf), want)
			}
			if err != nil {
				rd.release()
				if mem.held != 0 {
					t.Fatalf("%d bytes not given back", mem.held)
				}
				return // io.EOF, or a protocol error
			}
			c.calls, c.ops = c.calls[:0], c.ops[:0]
			for _, args := range cmds {
				if len(args) == 0 {
					t.Fatal("a command of no arguments")
				}
				cl := c.plan(args)
				if cl.err != "" && cl.n != 0 {
					t.Fatalf("%q: refused (%s) with %d ops planned", args, cl.err, cl.n)
				}
				if cl.err == "" && cl.cmd == nil {
					t.Fatalf("%q: neither a command nor an error", args)
				}
			}
			results := make([]op.Result, len(c.ops))
			for i := range c.calls {
				cl := &c.calls[i]
				before := len(c.wr.Buffer())
				c.reply(cl, results[cl.first:cl.first+cl.n])
				if len(c.wr.Buffer()) == before {
					t.Fatalf("%q: no reply", cl.args)
				}
			}
			c.wr.SetBuffer(nil)
		}
	})
}

// tally is a reader's memory without bound: it counts what is held.
type tally struct{ held int }

func (m *tally) take(n int) error { m.held += n; return nil }
func (m *tally) give(n int)       { m.held -= n }

// chunked reads data size bytes at a time, as a slow network would.
type chunked struct {
	data []byte
	size int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.size)], c.data)
	c.data = c.data[n:]
	return n, nil
}

// The reader parses what redis-cli and go-redis send, in any chunks, and
// refuses what Redis refuses.
func TestReaderParsesPipelines(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     string // the commands, "|" between them, " " between arguments
		err      string
	}{
		{"multibulk", "*2\r\n$4\r\nINCR\r\n$4\r\npv:k\r\n", "INCR pv:k", ""},
		{"pipeline", "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", "PING|ECHO ", ""},
		{"inline", "PING\r\nINCRBY  pv:k   5\n\r\n", "PING|INCRBY pv:k 5", ""},
		{"binary values", "*2\r\n$3\r\na\r\n\r\n$1\r\n\x00\r\n", "a\r\n \x00", ""},
		{"empty arrays skipped", "*0\r\n*-1\r\n*1\r\n$1\r\nx\r\n", "x", ""},
		{"huge count", "*1000000000000000000\r\n", "", "invalid multibulk length"},
		{"huge bulk", "*1\r\n$100000000\r\n", "", "invalid bulk length"},
		{"negative bulk", "*1\r\n$-1\r\n", "", "invalid bulk length"},
		{"bulk longer than said", "*1\r\n$1\r\nab\r\n", "", "invalid bulk length"},
		{"not a bulk", "*1\r\n:1\r\n", "", "expected '$'"},
		{"truncated", "*2\r\n$4\r\nINCR\r\n", "", "EOF"},
	} {
		for _, size := range []int{1, 3, 1 << 20} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, size), func(t *testing.T) {
				rd := newReader(&chunked{data: []byte(tc.in), size: size}, 1<<16, nil)
				var got []string
				var err error
				for {
					var cmds [][][]byte
					if cmds, err = rd.read(nil); err != nil {
						break
					}
					for _, args := range cmds {
						got = append(got, string(bytes.Join(args, []byte(" "))))
					}
				}
				if tc.err == "" && err != io.EOF || tc.err != "" && !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v; want %q", err, tc.err)
				}
				if strings.Join(got, "|") != tc.want {
					t.Fatalf("commands %q; want %q", strings.Join(got, "|"), tc.want)
				}
			})
		}
	}
}

// A command of many arguments fed a few bytes at a time is parsed in time
// proportional to its length: the reader takes up a partial command where
// it left it rather than from its start (which took minutes here, a cheap
// way to burn a server's CPU).
func TestReaderKeepsItsPlaceInPartialCommands(t *testing.T) {
	const n = 1 << 17
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n$4\r\nECHO\r\n", n)
	for range n - 1 {
		b.WriteString("$1\r\nx\r\n")
	}
	b.WriteString("PING\r\n")
	rd := newReader(&chunked{data: b.Bytes(), size: 64}, maxPending, nil)
	start := time.Now()
	var got [][][]byte
	for len(got) < 2 {
		cmds, err := rd.read(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, args := range cmds {
			got = append(got, slices.Clone(args))
		}
	}
	if len(got) != 2 || len(got[0]) != n || string(got[0][n-1]) != "x" || string(got[1][0]) != "PING" {
		t.Fatalf("parsed %d commands; want the %d arguments then PING", len(got), n)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("%d bytes in 64-byte reads took %s", b.Len(), d)
	}
}
