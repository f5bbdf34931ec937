package resp

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/redcon"

	"github.com/hoard-dev/hoard/internal/auth"
	"github.com/hoard-dev/hoard/internal/op"
)

// command is one RESP command: how it is checked and planned into ops, and
// how its reply is written from their results.
type command struct {
	name  string
	arity int // as COMMAND reports it: n args exactly, or at least -n
	flags []string
	// first, last and step locate the keys in the arguments (COMMAND).
	first, last, step int
	// need is the role a token needs to run the command: RoleWrite for
	// "write" commands, RoleRead for "readonly" ones and INFO, none for the
	// connection commands (any token).
	need auth.Role
	// noAuth commands run before AUTH when tokens are on: AUTH, HELLO
	// and QUIT, as in Redis.
	noAuth bool
	// plan checks args and queues the command's ops (c.add), or fails with
	// the error to reply.
	plan func(c *conn, cl *call, args [][]byte) error
	// reply writes the reply once the ops are done.
	reply func(c *conn, cl *call, args [][]byte, rs []op.Result)
}

// call is one command of a pipeline.
type call struct {
	cmd      *command
	args     [][]byte
	err      string // the reply, when planning failed
	kind     string // the CLIENT subcommand
	first, n int    // its ops: c.ops[first:first+n]
}

// commands is the one table of RESP commands, by lower-case name.
var commands = map[string]*command{}

func init() {
	for _, cmd := range []*command{
		{name: "incr", arity: 2, flags: []string{"write", "fast"}, first: 1, last: 1, step: 1, plan: planIncr(1, false), reply: replyCount},
		{name: "decr", arity: 2, flags: []string{"write", "fast"}, first: 1, last: 1, step: 1, plan: planIncr(-1, false), reply: replyCount},
		{name: "incrby", arity: 3, flags: []string{"write", "fast"}, first: 1, last: 1, step: 1, plan: planIncr(1, true), reply: replyCount},
		{name: "decrby", arity: 3, flags: []string{"write", "fast"}, first: 1, last: 1, step: 1, plan: planIncr(-1, true), reply: replyCount},
		{name: "get", arity: 2, flags: []string{"readonly", "fast"}, first: 1, last: 1, step: 1, plan: planGet, reply: replyGet},
		{name: "mget", arity: -2, flags: []string{"readonly", "fast"}, first: 1, last: -1, step: 1, plan: planGet, reply: replyGet},
		{name: "rpush", arity: -3, flags: []string{"write", "fast"}, first: 1, last: 1, step: 1, plan: planPush, reply: replyCount},
		{name: "llen", arity: 2, flags: []string{"readonly", "fast"}, first: 1, last: 1, step: 1, plan: planOne(op.Size), reply: replyCount},
		{name: "lrange", arity: 4, flags: []string{"readonly"}, first: 1, last: 1, step: 1, plan: planRange, reply: replyRange},
		{name: "set", arity: -3, flags: []string{"write"}, first: 1, last: 1, step: 1, plan: planSet, reply: replyOK},
		{name: "del", arity: -2, flags: []string{"write"}, first: 1, last: -1, step: 1, plan: planKeys(op.Delete), reply: replyDeleted},
		{name: "exists", arity: -2, flags: []string{"readonly", "fast"}, first: 1, last: -1, step: 1, plan: planKeys(op.Get), reply: replyExists},
		{name: "ping", arity: -1, flags: []string{"fast"}, reply: replyPing},
		{name: "echo", arity: 2, flags: []string{"fast"}, reply: func(c *conn, _ *call, args [][]byte, _ []op.Result) { c.wr.WriteBulk(args[1]) }},
		{name: "hello", arity: -1, flags: []string{"fast", "no_auth"}, plan: planHello, reply: replyHello},
		{name: "client", arity: -2, flags: []string{}, plan: planClient, reply: replyClient},
		{name: "select", arity: 2, flags: []string{"fast"}, plan: planSelect, reply: replyOK},
		{name: "command", arity: -1, flags: []string{}, reply: replyCommand},
		{name: "info", arity: -1, flags: []string{}, reply: replyInfo, need: auth.RoleRead},
		{name: "auth", arity: -2, flags: []string{"fast", "no_auth"}, plan: planAuth, reply: replyOK},
		{name: "quit", arity: -1, flags: []string{"fast", "no_auth"}, reply: replyOK},
	} {
		for _, f := range cmd.flags {
			switch f {
			case "write":
				cmd.need = auth.RoleWrite
			case "readonly":
				cmd.need = auth.RoleRead
			case "no_auth":
				cmd.noAuth = true
			}
		}
		commands[cmd.name] = cmd
	}
}

// replyErr is a planning failure: the error reply, with its code first.
type replyErr string

func (e replyErr) Error() string { return string(e) }

// lookup finds a command by its name in any case, without allocating.
func lookup(name []byte) *command {
	var buf [16]byte
	if len(name) > len(buf) {
		return nil
	}
	for i, b := range name {
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		buf[i] = b
	}
	return commands[string(buf[:len(name)])]
}

// command finds a command by its name as lookup does, checking the last
// name it found first: a pipeline mostly repeats one command (1.6% of the
// agent's CPU went to the table during GET -P 16).
func (c *conn) command(name []byte) *command {
	if c.lastCmd != nil && string(name) == string(c.lastName[:c.lastLen]) {
		return c.lastCmd
	}
	cmd := lookup(name)
	if cmd != nil && len(name) <= len(c.lastName) {
		c.lastCmd, c.lastLen = cmd, copy(c.lastName[:], name)
	}
	return cmd
}

// plan checks one command, appends its call to c.calls and queues its
// ops; it returns the call (valid until the next append to c.calls).
func (c *conn) plan(args [][]byte) *call {
	cmd := c.command(args[0])
	c.calls = append(c.calls, call{cmd: cmd, args: args})
	cl := &c.calls[len(c.calls)-1] // in place: a call of its own would escape to the heap
	switch {
	case cmd == nil:
		cl.err = fmt.Sprintf("ERR unknown command '%s', with args beginning with: %s", clip(args[0]), quoteArgs(args[1:]))
	case (cmd.arity > 0 && len(args) != cmd.arity) || (cmd.arity < 0 && len(args) < -cmd.arity):
		cl.err = fmt.Sprintf("ERR wrong number of arguments for '%s' command", cmd.name)
	case c.role == auth.RoleNone && !cmd.noAuth:
		cl.err = "NOAUTH Authentication required."
	case !c.role.Allows(cmd.need):
		cl.err = fmt.Sprintf("NOPERM this token ('%s', role %s) may not run '%s': it needs a %s token", c.token, c.role, cmd.name, cmd.need)
	case cmd.plan != nil:
		if err := cmd.plan(c, cl, args); err != nil {
			cl.err = err.Error()
			c.ops = c.ops[:len(c.ops)-cl.n] // ops queued before the failure never run
			cl.n = 0
		}
	}
	return cl
}

func quoteArgs(args [][]byte) string {
	var b strings.Builder
	for i, a := range args {
		if i == 4 {
			break
		}
		fmt.Fprintf(&b, "'%s' ", clip(a))
	}
	return b.String()
}

// reply writes cl's reply.
func (c *conn) reply(cl *call, rs []op.Result) {
	if cl.err != "" {
		c.wr.WriteError(cl.err)
		return
	}
	for _, r := range rs {
		if r.Err != nil {
			c.wr.WriteError(errorReply(r.Err))
			return
		}
	}
	cl.cmd.reply(c, cl, cl.args, rs)
}

// key parses a RESP key and checks that its store is one of kinds; it
// returns the store, the key in it and the store's kind.
func (c *conn) key(name string, raw []byte, kinds ...string) (store, key, kind string, err error) {
	store, key, err = c.s.split(raw)
	if err != nil {
		return "", "", "", err
	}
	if store == c.lastStore {
		kind = c.lastKind
	} else {
		kind = c.s.backend.StoreKind(store)
		c.lastStore, c.lastKind = store, kind
	}
	if kind == "" {
		return "", "", "", replyErr(fmt.Sprintf("ERR unknown store '%s' (key '%s')", store, clip(raw)))
	}
	for _, k := range kinds {
		if k == kind {
			return store, key, kind, nil
		}
	}
	return "", "", "", replyErr(fmt.Sprintf("WRONGTYPE %s does not fit store '%s', a %s store (key '%s')",
		strings.ToUpper(name), store, kind, clip(raw)))
}

func planIncr(sign int64, withDelta bool) func(c *conn, cl *call, args [][]byte) error {
	return func(c *conn, cl *call, args [][]byte) error {
		store, key, _, err := c.key(cl.cmd.name, args[1], op.StoreCounter)
		if err != nil {
			return err
		}
		delta := int64(1)
		if withDelta {
			if delta, err = strconv.ParseInt(string(args[2]), 10, 64); err != nil {
				return replyErr("ERR value is not an integer or out of range")
			}
		}
		if sign < 0 {
			if delta == math.MinInt64 {
				return replyErr("ERR decrement would overflow")
			}
			delta = -delta
		}
		c.add(cl, op.Op{Kind: op.Incr, Store: store, Key: key, Delta: delta})
		return nil
	}
}

// planGet plans GET and MGET: a counter key reads its count, a cache key
// reads through.
func planGet(c *conn, cl *call, args [][]byte) error {
	for _, raw := range args[1:] {
		store, key, kind, err := c.key(cl.cmd.name, raw, op.StoreCounter, op.StoreCache)
		if err != nil {
			return err
		}
		k := op.Get
		if kind == op.StoreCounter {
			k = op.Count
		}
		c.add(cl, op.Op{Kind: k, Store: store, Key: key})
	}
	return nil
}

func replyGet(c *conn, cl *call, _ [][]byte, rs []op.Result) {
	if cl.cmd.name == "mget" {
		c.wr.WriteArray(len(rs))
	}
	for i := range rs {
		switch {
		case c.ops[cl.first+i].Kind == op.Count:
			c.wr.WriteBulkString(strconv.FormatInt(rs[i].Count, 10))
		case rs[i].Found:
			c.wr.WriteBulk(rs[i].Value)
		default:
			c.wr.WriteNull()
		}
	}
}

func planPush(c *conn, cl *call, args [][]byte) error {
	store, key, _, err := c.key(cl.cmd.name, args[1], op.StoreBuffer)
	if err != nil {
		return err
	}
	c.add(cl, op.Op{Kind: op.Insert, Store: store, Key: key, Values: op.CopyValues(args[2:])})
	return nil
}

// planOne plans a command of one key and one op of kind k.
func planOne(k op.Kind) func(c *conn, cl *call, args [][]byte) error {
	return func(c *conn, cl *call, args [][]byte) error {
		store, key, _, err := c.key(cl.cmd.name, args[1], k.Spec().Store)
		if err != nil {
			return err
		}
		c.add(cl, op.Op{Kind: k, Store: store, Key: key})
		return nil
	}
}

// planKeys plans a command of any number of cache keys, one op of kind k
// each.
func planKeys(k op.Kind) func(c *conn, cl *call, args [][]byte) error {
	return func(c *conn, cl *call, args [][]byte) error {
		for _, raw := range args[1:] {
			store, key, _, err := c.key(cl.cmd.name, raw, op.StoreCache)
			if err != nil {
				return err
			}
			c.add(cl, op.Op{Kind: k, Store: store, Key: key})
		}
		return nil
	}
}

func replyCount(c *conn, _ *call, _ [][]byte, rs []op.Result) { c.wr.WriteInt64(rs[0].Count) }

func replyDeleted(c *conn, _ *call, _ [][]byte, rs []op.Result) {
	c.wr.WriteInt(countOf(rs, func(r *op.Result) bool { return r.Deleted }))
}

func replyExists(c *conn, _ *call, _ [][]byte, rs []op.Result) {
	c.wr.WriteInt(countOf(rs, func(r *op.Result) bool { return r.Found }))
}

// countOf counts the results that are so.
func countOf(rs []op.Result, so func(*op.Result) bool) int {
	n := 0
	for i := range rs {
		if so(&rs[i]) {
			n++
		}
	}
	return n
}

func planRange(c *conn, cl *call, args [][]byte) error {
	for _, a := range args[2:4] {
		if _, err := strconv.ParseInt(string(a), 10, 64); err != nil {
			return replyErr("ERR value is not an integer or out of range")
		}
	}
	return planOne(op.Dump)(c, cl, args)
}

// replyRange answers LRANGE as Redis does: negative indexes count from
// the end, out-of-range ones are clamped.
func replyRange(c *conn, _ *call, args [][]byte, rs []op.Result) {
	values := rs[0].Values
	n := int64(len(values))
	start, _ := strconv.ParseInt(string(args[2]), 10, 64)
	stop, _ := strconv.ParseInt(string(args[3]), 10, 64)
	if start < 0 {
		start = max(n+start, 0)
	}
	if stop < 0 {
		stop = n + stop
	}
	stop = min(stop, n-1)
	if start > stop || start >= n {
		c.wr.WriteArray(0)
		return
	}
	c.wr.WriteArray(int(stop - start + 1))
	for _, v := range values[start : stop+1] {
		c.wr.WriteBulk(v)
	}
}

// planSet plans SET key value [EX seconds | PX milliseconds].
func planSet(c *conn, cl *call, args [][]byte) error {
	store, key, _, err := c.key(cl.cmd.name, args[1], op.StoreCache)
	if err != nil {
		return err
	}
	var ttl time.Duration
	for i := 3; i < len(args); i++ {
		opt := strings.ToUpper(string(args[i]))
		switch opt {
		case "EX", "PX":
			if ttl != 0 || i+1 == len(args) {
				return replyErr("ERR syntax error")
			}
			i++
			n, err := strconv.ParseInt(string(args[i]), 10, 64)
			unit := time.Second
			if opt == "PX" {
				unit = time.Millisecond
			}
			if err != nil || n <= 0 || n > int64(math.MaxInt64/unit) {
				return replyErr("ERR invalid expire time in 'set' command")
			}
			ttl = time.Duration(n) * unit
		case "NX", "XX", "GET", "KEEPTTL", "EXAT", "PXAT":
			return replyErr(fmt.Sprintf("ERR SET option %s is not supported: a cache store takes SET key value [EX seconds|PX milliseconds]", opt))
		default:
			return replyErr("ERR syntax error")
		}
	}
	c.add(cl, op.Op{Kind: op.Set, Store: store, Key: key, Values: [][]byte{bytes.Clone(args[2])}, TTL: ttl})
	return nil
}

func replyOK(c *conn, _ *call, _ [][]byte, _ []op.Result) { c.wr.WriteString("OK") }

func replyPing(c *conn, _ *call, args [][]byte, _ []op.Result) {
	switch len(args) {
	case 1:
		c.wr.WriteString("PONG")
	case 2:
		c.wr.WriteBulk(args[1])
	default:
		c.wr.WriteError("ERR wrong number of arguments for 'ping' command")
	}
}

// planHello refuses RESP3, so that clients that try it first (go-redis
// v9, redis-py with protocol=3) fall back to RESP2, and takes AUTH and
// SETNAME. As in Redis, the version is checked first, then the options'
// syntax, then AUTH; without tokens, HELLO needs no AUTH, but one for
// "default" is taken, whatever its password.
func planHello(c *conn, _ *call, args [][]byte) error {
	if len(args) > 1 {
		v, err := strconv.Atoi(string(args[1]))
		if err != nil {
			return replyErr("ERR Protocol version is not an integer or out of range")
		}
		if v != 2 {
			return replyErr("NOPROTO sorry, this protocol version is not supported.")
		}
	}
	var user, secret, name []byte
	for i := 2; i < len(args); i++ {
		more := len(args) - 1 - i
		switch opt := strings.ToUpper(string(args[i])); {
		case opt == "AUTH" && more >= 2:
			user, secret = args[i+1], args[i+2]
			i += 2
		case opt == "SETNAME" && more >= 1:
			name = args[i+1]
			i++
		default:
			return replyErr(fmt.Sprintf("ERR Syntax error in HELLO option '%s'", clip(args[i])))
		}
	}
	if user != nil {
		if err := c.authenticate(user, secret, true); err != nil {
			return err
		}
	}
	if c.role == auth.RoleNone {
		return replyErr("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
	}
	if name != nil {
		c.name = string(name)
	}
	return nil
}

func replyHello(c *conn, _ *call, _ [][]byte, _ []op.Result) {
	c.wr.WriteArray(14)
	c.wr.WriteBulkString("server")
	c.wr.WriteBulkString("hoard")
	c.wr.WriteBulkString("version")
	c.wr.WriteBulkString(c.s.cfg.Version)
	c.wr.WriteBulkString("proto")
	c.wr.WriteInt(2)
	c.wr.WriteBulkString("id")
	c.wr.WriteInt64(c.id)
	c.wr.WriteBulkString("mode")
	c.wr.WriteBulkString("standalone")
	c.wr.WriteBulkString("role")
	c.wr.WriteBulkString("master")
	c.wr.WriteBulkString("modules")
	c.wr.WriteArray(0)
}

// planClient takes the CLIENT subcommands clients send on connect.
func planClient(c *conn, cl *call, args [][]byte) error {
	sub := strings.ToUpper(string(args[1]))
	cl.kind = sub
	switch sub {
	case "SETNAME":
		if len(args) != 3 {
			return replyErr("ERR wrong number of arguments for 'client|setname' command")
		}
		c.name = string(args[2])
	case "SETINFO":
		if len(args) != 4 {
			return replyErr("ERR wrong number of arguments for 'client|setinfo' command")
		}
	case "GETNAME", "ID":
		if len(args) != 2 {
			return replyErr(fmt.Sprintf("ERR wrong number of arguments for 'client|%s' command", strings.ToLower(sub)))
		}
	default:
		return replyErr(fmt.Sprintf("ERR unknown subcommand '%s'. Try CLIENT HELP.", clip(args[1])))
	}
	return nil
}

func replyClient(c *conn, cl *call, _ [][]byte, _ []op.Result) {
	switch cl.kind {
	case "GETNAME":
		if c.name == "" {
			c.wr.WriteNull()
		} else {
			c.wr.WriteBulkString(c.name)
		}
	case "ID":
		c.wr.WriteInt64(c.id)
	default:
		c.wr.WriteString("OK")
	}
}

func planSelect(_ *conn, _ *call, args [][]byte) error {
	if string(args[1]) != "0" {
		return replyErr("ERR DB index is out of range: hoard has database 0 only")
	}
	return nil
}

// replyCommand answers COMMAND (every command), COMMAND COUNT, COMMAND
// INFO name... and COMMAND DOCS (none: clients then use their own help).
func replyCommand(c *conn, _ *call, args [][]byte, _ []op.Result) {
	if len(args) == 1 {
		c.wr.WriteArray(len(commands))
		for _, cmd := range sortedCommands() {
			writeCommandInfo(c.wr, cmd)
		}
		return
	}
	switch strings.ToUpper(string(args[1])) {
	case "COUNT":
		c.wr.WriteInt(len(commands))
	case "DOCS":
		c.wr.WriteArray(0)
	case "INFO":
		c.wr.WriteArray(len(args) - 2)
		for _, a := range args[2:] {
			if cmd := commands[strings.ToLower(string(a))]; cmd != nil {
				writeCommandInfo(c.wr, cmd)
			} else {
				c.wr.WriteNull()
			}
		}
	default:
		c.wr.WriteError(fmt.Sprintf("ERR unknown subcommand '%s'. Try COMMAND HELP.", clip(args[1])))
	}
}

// writeCommandInfo writes cmd as COMMAND INFO does (Redis 2.8's six
// fields, which every client reads).
func writeCommandInfo(w *redcon.Writer, cmd *command) {
	w.WriteArray(6)
	w.WriteBulkString(cmd.name)
	w.WriteInt(cmd.arity)
	w.WriteArray(len(cmd.flags))
	for _, f := range cmd.flags {
		w.WriteString(f)
	}
	w.WriteInt(cmd.first)
	w.WriteInt(cmd.last)
	w.WriteInt(cmd.step)
}
