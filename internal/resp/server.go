package resp

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tidwall/redcon"

	"github.com/hoard-dev/hoard/internal/op"
)

// Config configures a Server.
type Config struct {
	// Separator splits a RESP key into the store's name (before its first
	// occurrence) and the key in that store: "pageviews:/home" is the key
	// "/home" of the store "pageviews". Empty: ":".
	Separator string
	// Version is the hoard version INFO reports.
	Version string
	// Logger gets the server's logs. Nil: none.
	Logger hclog.Logger
}

// Backend is the node as the server sees it.
type Backend interface {
	// Start checks o and runs it wherever its key's owner is, and calls
	// done exactly once with the result: on the caller's goroutine when
	// the op finishes at once, later otherwise. o's values and strings
	// are its own. done must not block.
	Start(o op.Op, done func(op.Result))
	// StoreKind returns the kind of the store named store (op.StoreCounter,
	// op.StoreBuffer, op.StoreCache), or "" when there is none.
	StoreKind(store string) string
	// Info describes the node for INFO.
	Info() Info
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
	cfg     Config
	logger  hclog.Logger
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
}

// New returns a server of backend's stores on ln; Serve starts it.
func New(ln net.Listener, backend Backend, cfg Config) *Server {
	if cfg.Separator == "" {
		cfg.Separator = ":"
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &Server{
		ln: ln, backend: backend, cfg: cfg, logger: logger, started: time.Now(),
		port: port(ln.Addr().String()), conns: map[*conn]struct{}{}, done: make(chan struct{}),
	}
}

// Serve accepts connections until Close, and returns nil then: a failed
// accept is logged and tried again.
func (s *Server) Serve() error {
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
		if !s.track(c) {
			_ = nc.Close()
			return nil
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

func (s *Server) newConn(nc net.Conn) *conn {
	return &conn{
		id: s.nextID.Add(1), nc: nc, s: s, keys: map[opKey]struct{}{},
		rd: newReader(nc, maxPending), wr: redcon.NewWriter(nc),
	}
}

// track adds c to the open connections, unless the server is closed.
func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	_ = c.nc.Close()
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
		_ = c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
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
	nc   net.Conn
	rd   *reader
	wr   *redcon.Writer
	s    *Server
	name string

	// One pipeline's state, reused from one to the next.
	cmds     [][][]byte
	calls    []call
	ops      []op.Op
	results  []op.Result
	finished []atomic.Bool      // the op's result is in
	dones    []func(op.Result)  // the callback of the op at each index
	wg       sync.WaitGroup     // the ops started and not finished
	running  int                // ops left running when start returned
	keys     map[opKey]struct{} // their keys
}

// serve reads pipelines of commands until the client leaves: a pipeline's
// ops run together, and their replies are written in order once all are
// done. Ops on one key keep their order: an op on a key already in flight
// waits for the pipeline's ops so far.
func (c *conn) serve() {
	for {
		cmds, err := c.rd.read(c.cmds)
		if err != nil {
			if isProtocol(err) {
				// Say so, as Redis does, and hang up.
				c.wr.WriteError("ERR " + err.Error())
				_ = c.wr.Flush()
			}
			return
		}
		c.cmds = cmds
		quit := c.run(cmds)
		if err := c.wr.Flush(); err != nil || quit {
			return
		}
	}
}

// run runs one pipeline and writes its replies; it reports whether the
// client asked to quit.
func (c *conn) run(cmds [][][]byte) (quit bool) {
	c.calls, c.ops = c.calls[:0], c.ops[:0]
	for _, args := range cmds {
		cl := c.plan(args)
		c.calls = append(c.calls, cl)
		if cl.cmd != nil && cl.cmd.name == "quit" {
			break // what follows QUIT in a pipeline is not run, as in Redis
		}
	}
	// Every result has its place before the first op starts: callbacks
	// write into the slices while later ops are started.
	if cap(c.results) < len(c.ops) {
		c.results = make([]op.Result, len(c.ops))
		c.finished = make([]atomic.Bool, len(c.ops))
	}
	c.results = c.results[:len(c.ops)]
	c.finished = c.finished[:len(c.ops)]
	clear(c.results)
	for i := range c.ops {
		c.start(i)
	}
	c.wg.Wait()
	c.running = 0
	clear(c.keys)
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
	c.finished[i].Store(false)
	c.wg.Add(1)
	c.s.backend.Start(*o, c.done(i))
	if !c.finished[i].Load() {
		c.running++
		c.keys[k] = struct{}{}
	}
}

// done returns the callback that ends op i of a pipeline, made once per
// connection and index.
func (c *conn) done(i int) func(op.Result) {
	for len(c.dones) <= i {
		j := len(c.dones)
		c.dones = append(c.dones, func(r op.Result) {
			c.results[j] = r
			c.finished[j].Store(true)
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
