package resp

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/op"
)

// redisVersion is the Redis version INFO claims: clients gate features on
// it, and hoard answers the RESP2 commands of this version it implements.
const redisVersion = "7.2.0"

// errorCodes maps hoard's errors to the code that starts a RESP error, the
// first that matches.
var errorCodes = []struct {
	err  error
	code string
}{
	{errs.ErrWrongKind, "WRONGTYPE"},
	{errs.ErrOverloaded, "BUSY"},
	{errs.ErrUnavailable, "TRYAGAIN"},
	{errs.ErrNotOwner, "TRYAGAIN"},
	{errs.ErrNoRing, "TRYAGAIN"},
	{errs.ErrShutdown, "TRYAGAIN"},
}

// errorReply turns an op's error into a RESP error: a code Redis clients
// know where one fits (TRYAGAIN: the op did not apply, retry it), ERR
// otherwise, then hoard's message.
func errorReply(err error) string {
	if errors.Is(err, errs.ErrOverflow) {
		return "ERR increment or decrement would overflow: " + err.Error()
	}
	if errors.Is(err, errs.ErrIndeterminate) {
		// Not TRYAGAIN: the write may have been applied.
		return "ERR " + err.Error()
	}
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			return e.code + " " + err.Error()
		}
	}
	return "ERR " + oneLine(err.Error())
}

func oneLine(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}

func sortedCommands() []*command {
	out := make([]*command, 0, len(commands))
	for _, cmd := range commands {
		out = append(out, cmd)
	}
	slices.SortFunc(out, func(a, b *command) int { return strings.Compare(a.name, b.name) })
	return out
}

// infoSections are INFO's sections, in order.
var infoSections = []string{"server", "clients", "memory", "keyspace"}

// replyInfo answers INFO [section ...]: server, clients, memory and
// keyspace, from the node's figures. Keyspace lists each store with its
// kind and what it holds unflushed at this node.
func replyInfo(c *conn, _ *call, args [][]byte, _ []op.Result) {
	want := map[string]bool{}
	for _, a := range args[1:] {
		want[strings.ToLower(string(a))] = true
	}
	all := len(want) == 0 || want["all"] || want["everything"] || want["default"]
	var b strings.Builder
	for _, sec := range infoSections {
		if !all && !want[sec] {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		fmt.Fprintf(&b, "# %s%s\r\n", strings.ToUpper(sec[:1]), sec[1:])
		c.s.writeSection(&b, sec)
	}
	c.wr.WriteBulkString(b.String())
}

func (s *Server) writeSection(b *strings.Builder, sec string) {
	line := func(k string, v any) { fmt.Fprintf(b, "%s:%v\r\n", k, v) }
	switch sec {
	case "server":
		info := s.backend.Info()
		line("redis_version", redisVersion)
		line("hoard_version", s.cfg.Version)
		line("hoard_node", info.Node)
		line("hoard_members", info.Members)
		line("redis_mode", "standalone")
		line("os", runtime.GOOS)
		line("arch_bits", 64)
		line("process_id", os.Getpid())
		line("tcp_port", s.port)
		line("uptime_in_seconds", int64(time.Since(s.started).Seconds()))
	case "clients":
		line("connected_clients", s.clients())
		st := s.Stats()
		line("total_connections_received", st.Accepted)
		line("rejected_connections", st.Refused)
		line("hoard_auth_failures", st.AuthFailures)
		line("hoard_buffered_command_bytes", st.BufferedBytes)
	case "memory":
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		line("used_memory", m.HeapAlloc)
		line("used_memory_human", human(m.HeapAlloc))
		line("used_memory_sys", m.Sys)
		line("used_memory_sys_human", human(m.Sys))
	case "keyspace":
		info := s.backend.Info()
		keys := 0
		for _, st := range info.Stores {
			keys += st.Keys
		}
		line("db0", fmt.Sprintf("keys=%d,expires=0,avg_ttl=0", keys))
		for _, st := range info.Stores {
			line("store_"+st.Name, fmt.Sprintf("kind=%s,keys=%d,values=%d", st.Kind, st.Keys, st.Values))
		}
	}
}

func port(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		return addr[i+1:]
	}
	return addr
}

func human(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2fG", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2fM", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%.2fK", float64(n)/(1<<10))
	}
}
