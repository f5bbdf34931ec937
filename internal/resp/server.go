package resp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tidwall/redcon"

	"github.com/hoard-dev/hoard/internal/auth"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/internal/ratelog"
	"github.com/hoard-dev/hoard/internal/yield"
)

// Backend is the node as the server sees it.
type Backend interface {
	// Start checks o and runs it wherever its key's owner is. When the op
	// finishes at once, Start returns its result and true, and does not
	// call done; otherwise it returns false and calls done exactly once
	// with the result, later (maybe before Start returns, on another
	// goroutine). o stays the caller's, and unchanged, until the op is
	// done: Start must not use it after that (it copies an op it keeps
	// longer); o's values and strings are its own. done must not block.
	Start(o *op.Op, done func(op.Result)) (op.Result, bool)
	// StoreKind returns the kind of the store named store (op.StoreCounter,
	// op.StoreBuffer, op.StoreCache), or "" when there is none. A store's
	// kind, or its absence, must not change while the server runs: a
	// connection remembers the last one.
	StoreKind(store string) string
	// Info describes the node for INFO.
	Info() Info
}

// Peeker is a Backend that answers some cache Gets at once from its
// memory, with no op started.
type Peeker interface {
	// Peek returns the value of o, a Get, and true when the node can
	// answer it at once from its memory as Start would (it owns the key
	// and holds it); false otherwise, and the op goes to Start.
	Peek(o *op.Op) ([]byte, bool)
}

// Info is what INFO reports of the node beyond the server's own figures.
type Info struct {
	Node    string
	Members int
	Stores  []StoreInfo
}

// StoreInfo is one store in INFO's keyspace section.
type StoreInfo struct {
	Name   string
	Kind   string
	Keys   int
	Values int64 // increments (counters) or values (buffers) held
}

// Server serves RESP2 on a listener: each connection on its own goroutine,
// pipelined commands run together and answered in order.
type Server struct {
	ln      net.Listener
	backend Backend
	peeker  Peeker // backend, when it is one
	cfg     Config // with its defaults
	logger  hclog.Logger
	log     *ratelog.Logger // lines about misbehaving clients
	budget  *budget         // cfg.MaxBufferedBytes
	maxCmd  int             // the most bytes of one command
	started time.Time
	port    string // INFO's tcp_port

	// mu guards conns, closed and done.
	mu     sync.Mutex
	conns  map[*conn]struct{}
	closed bool
	done   chan struct{} // closed by Close

	wg       sync.WaitGroup // the accept loop and the connections
	nextID   atomic.Int64
	accepted atomic.Int64
	// Counts of misbehaving clients (Stats).
	refused, handshakes, authFailures, malformed, timedOut atomic.Int64
}

// New returns a server of backend's stores on ln; Serve starts it. cfg's
// zero fields take their defaults; Serve refuses an invalid cfg.
func New(ln net.Listener, backend Backend, cfg Config) *Server {
	cfg = cfg.withDefaults()
	peeker, _ := backend.(Peeker)
	return &Server{
		ln: ln, backend: backend, peeker: peeker, cfg: cfg, logger: cfg.Logger, started: time.Now(),
		log:    ratelog.New(cfg.Logger, 0),
		budget: newBudget(max(cfg.MaxBufferedBytes, 0)),
		maxCmd: min(maxPending, smallBuf+max(cfg.MaxBufferedBytes, 0)),
		port:   port(ln.Addr().String()), conns: map[*conn]struct{}{}, done: make(chan struct{}),
	}
}

// Serve accepts connections until Close, and returns nil then: a failed
// accept is logged and tried again. It returns an error wrapping
// ErrInvalidConfig at once when the Config is invalid (Config.Validate).
func (s *Server) Serve() error {
	if err := s.cfg.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	var delay time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.isClosed() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// A temporary failure (out of file descriptors): back off
			// rather than spin, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.logger.Warn("resp accept failed", "error", err, "retry_in", delay)
			select {
			case <-time.After(delay):
			case <-s.done:
				return nil
			}
			continue
		}
		delay = 0
		c := s.newConn(nc)
		switch s.track(c) {
		case errClosed:
			_ = nc.Close()
			return nil
		case errFull:
			s.refuse(nc)
			continue
		}
		s.accepted.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			c.serve()
		}()
	}
}

// maxPending bounds the bytes of one command: an insert's values
// (op.MaxInsertBytes) and room for the rest. Past it the client gets a
// protocol error and is hung up on: a peer announcing a huge bulk cannot
// make the server hold more than this.
const maxPending = op.MaxInsertBytes + 1<<20

func (s *Server) newConn(raw net.Conn) *conn {
	c := &conn{id: s.nextID.Add(1), raw: raw, nc: raw, s: s, keys: map[opKey]struct{}{}}
	if s.cfg.TLS != nil {
		c.nc = tls.Server(raw, s.cfg.TLS)
	}
	if !s.cfg.Tokens.Enabled() {
		c.role = auth.RoleAdmin
	}
	c.rd = newReader(c, s.maxCmd, c)
	c.wr = redcon.NewWriter(c.nc)
	return c
}

// Why track refuses a connection.
var (
	errClosed = errors.New("server closed")
	errFull   = errors.New("too many connections")
)

// track adds c to the open connections, unless the server is closed
// (errClosed) or holds MaxConns already (errFull).
func (s *Server) track(c *conn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	if len(s.conns) >= s.cfg.MaxConns {
		return errFull
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return nil
}

// refuse closes a connection over MaxConns. A plain one is first told
// so, as Redis does: a new connection's send buffer is empty, so the
// write does not wait (a TLS one is not: that would need a handshake).
func (s *Server) refuse(nc net.Conn) {
	s.refused.Add(1)
	s.log.Warn("resp connection refused: too many connections", "remote", nc.RemoteAddr().String(), "max_conns", s.cfg.MaxConns)
	if s.cfg.TLS == nil {
		_ = nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = nc.Write([]byte("-ERR max number of clients reached\r\n"))
	}
	_ = nc.Close()
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	_ = c.raw.Close()
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close stops accepting, closes every connection and waits for their
// goroutines: a connection waiting for ops in flight ends once they do
// (each op has a deadline).
func (s *Server) Close() error {
	s.mu.Lock()
	if !s.closed {
		close(s.done)
	}
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		_ = c.raw.Close() // not c.nc: a TLS Close may wait for a write
	}
	s.mu.Unlock()
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// Stats are a server's figures: its connections, and counts since New of
// the clients it refused or hung up on.
type Stats struct {
	Clients           int   // connections open
	Accepted          int64 // connections taken
	Refused           int64 // connections closed at once, over MaxConns
	HandshakeFailures int64 // TLS handshakes failed or timed out
	AuthFailures      int64 // AUTHs (and HELLO AUTHs) refused
	Malformed         int64 // connections hung up on for a malformed request
	TimedOut          int64 // connections hung up on for a command or reply too slow
	// BufferedBytes is what the connections hold of MaxBufferedBytes for
	// the commands they are reading.
	BufferedBytes int
}

// Stats returns the server's figures.
func (s *Server) Stats() Stats {
	return Stats{
		Clients: s.clients(), Accepted: s.accepted.Load(), Refused: s.refused.Load(),
		HandshakeFailures: s.handshakes.Load(), AuthFailures: s.authFailures.Load(),
		Malformed: s.malformed.Load(), TimedOut: s.timedOut.Load(),
		BufferedBytes: s.cfg.MaxBufferedBytes - s.budget.available(),
	}
}

// clients counts the open connections.
func (s *Server) clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// conn is one client connection.
type conn struct {
	id   int64
	raw  net.Conn // the TCP connection: closed to end it
	nc   net.Conn // raw, or the TLS connection over it
	rd   *reader
	wr   *redcon.Writer
	s    *Server
	name string

	role  auth.Role // what the connection may run: RoleNone until AUTH when tokens are on
	token string    // the name of the token it presented

	// cmdDeadline is when the command being read must have arrived whole;
	// zero while no command is begun.
	cmdDeadline time.Time

	// idleSet and writeSet are when the read deadline set on nc between
	// commands and the write deadline run out (zero: none set), to the
	// clock of package yield, which the hot path reads anyway. A timeout is
	// set with an eighth of slack and set again only once it has less than
	// the full timeout left, so that a connection does not reset the
	// runtime's timer at every read and write. cmdSet is the read deadline
	// last set for a command begun, if that was the last one set.
	idleSet, writeSet yield.Instant
	cmdSet            time.Time

	// The last command and store looked up (conn.command, conn.key): a
	// pipeline mostly repeats them.
	lastName  [16]byte
	lastLen   int
	lastCmd   *command
	lastStore string
	lastKind  string

	// One pipeline's state, reused from one to the next.
	cmds    [][][]byte
	calls   []call
	ops     []op.Op
	results []op.Result
	dones   []func(op.Result)  // the callback of the op at each index
	wg      sync.WaitGroup     // the ops started and not finished
	running int                // ops left running when start returned
	keys    map[opKey]struct{} // their keys
}

// serve reads pipelines of commands until the client leaves: a pipeline's
// ops run together, and their replies are written in order once all are
// done. Ops on one key keep their order: an op on a key already in flight
// waits for the pipeline's ops so far.
func (c *conn) serve() {
	defer c.rd.release()
	if tc, ok := c.nc.(*tls.Conn); ok && !c.handshake(tc) {
		return
	}
	for {
		cmds, err := c.rd.read(c.cmds)
		if err != nil {
			c.readFailed(err)
			return
		}
		c.cmds = cmds
		c.cmdDeadline = time.Time{} // the next command's clock starts at its next read
		quit := c.run(cmds)
		now := yield.Turn() // the replies of this pass go out together (see package yield)
		c.writeWithin(now, c.s.cfg.CommandTimeout)
		if err := c.wr.Flush(); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				c.s.timedOut.Add(1)
				c.s.log.Warn("resp client hung up on: it did not read its replies in time",
					"remote", c.remote(), "timeout", c.s.cfg.CommandTimeout)
			}
			return
		}
		if quit {
			return
		}
		c.trim()
	}
}

// handshake runs the TLS handshake within HandshakeTimeout; it reports
// whether it succeeded.
func (c *conn) handshake(tc *tls.Conn) bool {
	_ = c.raw.SetDeadline(time.Now().Add(c.s.cfg.HandshakeTimeout))
	if err := tc.Handshake(); err != nil {
		if !c.s.isClosed() {
			c.s.handshakes.Add(1)
			c.s.log.Warn("resp tls handshake failed", "remote", c.remote(), "error", err)
		}
		return false
	}
	return true
}

// readFailed ends a connection whose read failed: a malformed request is
// answered, as Redis does, and logged; so is a command too slow to arrive.
// A connection idle for IdleTimeout is closed without a word.
func (c *conn) readFailed(err error) {
	switch {
	case isProtocol(err):
		c.s.malformed.Add(1)
		c.s.log.Warn("resp malformed request", "remote", c.remote(), "error", err)
		c.wr.WriteError("ERR " + err.Error())
		c.writeWithin(yield.Now(), c.s.cfg.CommandTimeout)
		_ = c.wr.Flush()
	case errors.Is(err, os.ErrDeadlineExceeded) && !c.rd.pending():
		c.s.logger.Debug("resp idle connection closed", "remote", c.remote(), "idle_timeout", c.s.cfg.IdleTimeout)
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, errTooSlow):
		c.s.timedOut.Add(1)
		c.s.log.Warn("resp client hung up on: its command did not arrive in time",
			"remote", c.remote(), "timeout", c.s.cfg.CommandTimeout)
	}
}

// Read reads from the connection for c.rd, with a read deadline: IdleTimeout
// from now when no command is begun, CommandTimeout from when the one
// begun was first seen otherwise.
func (c *conn) Read(p []byte) (int, error) {
	if c.rd.pending() {
		if dl := c.commandDeadline(); !dl.Equal(c.cmdSet) {
			if err := c.nc.SetReadDeadline(dl); err != nil {
				return 0, err
			}
			c.cmdSet, c.idleSet = dl, 0
		}
		return c.nc.Read(p)
	}
	// Between commands, let the other runnable connections go first while
	// that cannot starve the parked ones (see package yield).
	start := yield.Turn()
	if idle := c.s.cfg.IdleTimeout; c.idleSet < start.Add(idle) {
		if err := c.nc.SetReadDeadline(time.Now().Add(idle + idle/8)); err != nil {
			return 0, err
		}
		c.idleSet, c.cmdSet = start.Add(idle+idle/8), time.Time{}
	}
	n, err := c.nc.Read(p)
	yield.AfterRead(start)
	return n, err
}

// writeWithin makes the next writes fail unless done within d of now, to
// d and an eighth at most (see conn.writeSet).
func (c *conn) writeWithin(now yield.Instant, d time.Duration) {
	if c.writeSet < now.Add(d) {
		c.writeSet = now.Add(d + d/8)
		_ = c.nc.SetWriteDeadline(time.Now().Add(d + d/8))
	}
}

// commandDeadline returns when the command begun must have arrived whole.
func (c *conn) commandDeadline() time.Time {
	if c.cmdDeadline.IsZero() {
		c.cmdDeadline = time.Now().Add(c.s.cfg.CommandTimeout)
	}
	return c.cmdDeadline
}

// take and give lend c.rd bytes of the server's budget: take waits for
// them no later than the command's deadline.
func (c *conn) take(n int) error { return c.s.budget.take(c.rd, n, c.commandDeadline(), c.s.done) }
func (c *conn) give(n int)       { c.s.budget.give(c.rd, n) }

// trim lets go of a pipeline's memory when it was large, so that an idle
// connection holds little.
func (c *conn) trim() {
	const keep = 1 << 10
	if cap(c.cmds) > keep || cap(c.ops) > keep {
		c.cmds, c.calls, c.ops, c.results, c.dones = nil, nil, nil, nil, nil
	}
	if cap(c.wr.Buffer()) > 64<<10 {
		c.wr.SetBuffer(nil)
	}
}

func (c *conn) remote() string { return c.raw.RemoteAddr().String() }

// run runs one pipeline and writes its replies; it reports whether the
// client asked to quit.
func (c *conn) run(cmds [][][]byte) (quit bool) {
	c.calls, c.ops = c.calls[:0], c.ops[:0]
	for _, args := range cmds {
		cl := c.plan(args)
		if cl.cmd != nil && cl.cmd.name == "quit" {
			break // what follows QUIT in a pipeline is not run, as in Redis
		}
	}
	// Every result has its place before the first op starts: callbacks
	// write into the slices while later ops are started.
	if cap(c.results) < len(c.ops) {
		c.results = make([]op.Result, len(c.ops))
	}
	c.results = c.results[:len(c.ops)]
	clear(c.results)
	for i := range c.ops {
		c.start(i)
	}
	c.wg.Wait()
	c.running = 0
	if len(c.keys) > 0 { // most pipelines have no op left running: clear is not free
		clear(c.keys)
	}
	for i := range c.calls {
		cl := &c.calls[i]
		c.reply(cl, c.results[cl.first:cl.first+cl.n])
		if cl.cmd != nil && cl.cmd.name == "quit" {
			return true
		}
	}
	return false
}

// opKey is an op's key in its store.
type opKey struct{ store, key string }

// start runs op i of the pipeline, its result landing at c.results[i]. An
// op on a key of an op still running first waits for the ops started so
// far, so that ops on one key apply in the order sent; most ops finish at
// once (a write acknowledged in this node's memory) and need no such
// bookkeeping.
func (c *conn) start(i int) {
	o := &c.ops[i]
	k := opKey{o.Store, o.Key}
	if c.running > 0 {
		if _, dup := c.keys[k]; dup {
			c.wg.Wait()
			c.running = 0
			clear(c.keys)
		}
	}
	if c.s.peeker != nil && o.Kind == op.Get {
		if v, ok := c.s.peeker.Peek(o); ok {
			c.results[i] = op.Result{Value: v, Found: true}
			return
		}
	}
	c.wg.Add(1)
	if r, ok := c.s.backend.Start(o, c.done(i)); ok {
		c.results[i] = r
		c.wg.Done()
		return
	}
	c.running++
	c.keys[k] = struct{}{}
}

// done returns the callback that ends op i of a pipeline, made once per
// connection and index.
func (c *conn) done(i int) func(op.Result) {
	for len(c.dones) <= i {
		j := len(c.dones)
		c.dones = append(c.dones, func(r op.Result) {
			c.results[j] = r
			c.wg.Done()
		})
	}
	return c.dones[i]
}

// add queues o as an op of the call being planned.
func (c *conn) add(cl *call, o op.Op) {
	if cl.n == 0 {
		cl.first = len(c.ops)
	}
	c.ops = append(c.ops, o)
	cl.n++
}

// split splits a RESP key into its store and the key in it.
func (s *Server) split(key []byte) (store, k string, err error) {
	st, rest, ok := strings.Cut(string(key), s.cfg.Separator)
	if !ok || st == "" {
		return "", "", fmt.Errorf("ERR key '%s' names no store: write STORE%sKEY", clip(key), s.cfg.Separator)
	}
	return st, rest, nil
}

// clip shortens what a reply quotes back.
func clip(b []byte) string {
	const max = 128
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}
