package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Conn is the calling end of one TCP connection to a node. Many calls share
// it: each request carries an ID and responses may come back in any order.
// A Conn is safe for concurrent use. Once closed, by Close or by an error,
// it stays closed; Pool replaces closed connections.
type Conn struct {
	cfg    *Config
	addr   string
	remote Hello
	logger hclog.Logger
	l      *link

	// mu guards pending, nextID and timed.
	mu      sync.Mutex
	pending map[uint64]*call
	nextID  uint64
	timed   int // async calls in pending with a deadline

	lastUsed atomic.Int64 // unix nanoseconds of the last request sent or response received

	wg sync.WaitGroup
}

// call is one request waiting for its response.
type call struct {
	resp     any
	done     chan error  // Call: receives the result
	cb       func(error) // Go: called with the result
	deadline time.Time   // Go: when to give up
}

func (c *call) finish(err error) {
	if c.cb != nil {
		c.cb(err)
		return
	}
	c.done <- err
}

// Dial connects to addr and performs the handshake (after a TLS handshake
// when cfg.ClientTLS is set). The context bounds all of it, and so does
// Config.DialTimeout when it ends sooner. Errors wrap ErrUnauthorized when
// the server refused our credentials, ErrHandshake when it refused us for
// another reason (another protocol version or cluster) or does not answer
// like a hoard node, ErrInvalidConfig for a bad cfg, and the context's error
// when it ended first. A TLS failure, on either side, is an error that reads
// "tls handshake with ADDR: " and wraps the TLS or x509 error.
func Dial(ctx context.Context, addr string, cfg *Config) (*Conn, error) {
	cfg, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: dial %s: %w", addr, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	conn := nc
	tlsOn := cfg.ClientTLS != nil || cfg.ClientTLSFor != nil
	if tlsOn {
		tc := tls.Client(nc, clientTLS(cfg, addr))
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("transport: tls handshake with %s: %w", addr, err)
		}
		conn = tc
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	remote, err := clientHandshake(ctx, conn, br, cfg)
	if err != nil {
		_ = nc.Close()
		var oe *net.OpError
		if tlsOn && errors.As(err, &oe) && oe.Op == "remote error" {
			// In TLS 1.3 the server checks our certificate after our
			// handshake returned: its refusal arrives as the first read.
			return nil, fmt.Errorf("transport: tls handshake with %s: %w", addr, oe)
		}
		return nil, fmt.Errorf("transport: dial %s: %w", addr, err)
	}
	c := &Conn{
		cfg:     cfg,
		addr:    addr,
		remote:  remote,
		logger:  cfg.Logger.With("peer", addr),
		l:       newLink(nc, cfg),
		pending: make(map[uint64]*call),
	}
	c.l.conn = conn
	c.lastUsed.Store(time.Now().UnixNano())
	c.l.start()
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		c.readLoop(br)
	}()
	go func() {
		defer c.wg.Done()
		c.reapLoop()
	}()
	return c, nil
}

// clientTLS returns cfg, or a copy naming the dialled host when cfg names
// no server.
func clientTLS(c *Config, addr string) *tls.Config {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if c.ClientTLSFor != nil {
		return c.ClientTLSFor(host)
	}
	cfg := c.ClientTLS
	if cfg.ServerName != "" {
		return cfg
	}
	cfg = cfg.Clone()
	cfg.ServerName = host
	return cfg
}

func clientHandshake(ctx context.Context, nc net.Conn, br *bufio.Reader, cfg *Config) (Hello, error) {
	// The context's end, deadline or cancellation, interrupts the handshake.
	// (Setting its deadline on nc as well would race with this: a socket
	// timeout just before the context's timer fires would not report
	// context.DeadlineExceeded.)
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	remote, err := handshakeExchange(nc, br, cfg)
	if !stop() {
		// ctx ended during the handshake and nc may now have a deadline in
		// the past: fail, the caller closes nc.
		if err == nil {
			return Hello{}, ctx.Err()
		}
		return Hello{}, fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	_ = nc.SetDeadline(time.Time{})
	return remote, err
}

func handshakeExchange(nc net.Conn, br *bufio.Reader, cfg *Config) (Hello, error) {
	local := Hello{Protocol: ProtocolVersion, Cluster: cfg.Cluster, Name: cfg.Name, Token: cfg.Token}
	if cfg.Proof != nil {
		local.Proof = cfg.Proof()
	}
	body, err := encodeBody(nil, local)
	if err != nil {
		return Hello{}, err
	}
	if _, err := nc.Write(appendFrame(nil, &header{Kind: kindHello}, body)); err != nil {
		return Hello{}, err
	}
	buf, err := readFrame(br, min(cfg.MaxFrameSize, maxHelloSize))
	if err != nil {
		return Hello{}, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	h, body, err := decodeFrame(buf)
	if err != nil {
		return Hello{}, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	if h.Kind != kindHello {
		return Hello{}, fmt.Errorf("%w: expected a hello frame, got kind %d", ErrHandshake, h.Kind)
	}
	if h.Code == codeUnauthorized {
		return Hello{}, fmt.Errorf("%w: %s", ErrUnauthorized, h.Message)
	}
	if h.Code != "" {
		return Hello{}, fmt.Errorf("%w: refused by the server: %s", ErrHandshake, h.Message)
	}
	var remote Hello
	if err := decodeBody(body, &remote); err != nil {
		return Hello{}, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	if remote.Protocol != ProtocolVersion {
		return Hello{}, fmt.Errorf("%w: server speaks protocol %d, we speak %d", ErrHandshake, remote.Protocol, ProtocolVersion)
	}
	if cfg.Cluster != "" && remote.Cluster != cfg.Cluster {
		return Hello{}, fmt.Errorf("%w: server is in cluster %q, we are in %q", ErrHandshake, remote.Cluster, cfg.Cluster)
	}
	return remote, nil
}

// Addr is the address this connection was dialled to.
func (c *Conn) Addr() string { return c.addr }

// Remote is what the other end said of itself in the handshake.
func (c *Conn) Remote() Hello { return c.remote }

// Done is closed when the connection is closed.
func (c *Conn) Done() <-chan struct{} { return c.l.done }

// Err returns why the connection closed (wrapping ErrClosed), or nil while it
// is open.
func (c *Conn) Err() error { return c.l.closeErr() }

// Close closes the connection, fails the calls in flight with ErrClosed and
// waits for the connection's goroutines. It is idempotent.
func (c *Conn) Close() error {
	c.l.close(nil)
	c.l.wg.Wait()
	c.wg.Wait()
	return nil
}

// Call sends method with req as its body and waits for the response, which is
// decoded into resp (nil to ignore it). The context bounds the wait; its
// deadline travels with the request so the handler can honour it too.
// A handler error comes back as *Error; a closed connection as ErrClosed.
// An error that also wraps ErrNotSent means the request never left this
// process, so sending it again cannot apply it twice.
func (c *Conn) Call(ctx context.Context, method string, req, resp any) error {
	cl := &call{resp: resp, done: make(chan error, 1)}
	id, err := c.start(ctx, method, 0, req, cl)
	if err != nil {
		return err
	}
	select {
	case err := <-cl.done:
		return err
	case <-ctx.Done():
		if c.forget(id) {
			return ctx.Err()
		}
		// The reader took the call and is finishing it: wait for that, so
		// resp is not written after we return.
		return <-cl.done
	}
}

// Go sends a request without waiting: done is called exactly once with the
// result, from one of the connection's goroutines (or from Go itself when the
// request could not be sent). done must not block, nor close the Conn. Only
// the context's deadline is honoured after Go returns, not its cancellation.
// Requests sent with Go on one Conn are written in the order of the Go calls.
func (c *Conn) Go(ctx context.Context, method string, flags uint8, req, resp any, done func(error)) {
	cl := &call{resp: resp, cb: done}
	cl.deadline, _ = ctx.Deadline()
	if _, err := c.start(ctx, method, flags, req, cl); err != nil {
		done(err)
	}
}

// start registers cl and queues its request.
func (c *Conn) start(ctx context.Context, method string, flags uint8, req any, cl *call) (uint64, error) {
	h := header{Kind: kindRequest, Method: method, Flags: flags}
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if left <= 0 {
			return 0, fmt.Errorf("%w: %w", ErrNotSent, context.DeadlineExceeded)
		}
		h.Timeout = int64(left)
	}

	c.lastUsed.Store(time.Now().UnixNano())
	c.mu.Lock()
	c.nextID++
	h.ID = c.nextID
	c.pending[h.ID] = cl
	if cl.cb != nil && !cl.deadline.IsZero() {
		c.timed++
	}
	c.mu.Unlock()

	buf := getBuffer()
	defer putBuffer(buf)
	frame, err := encodeRequest(*buf, &h, req)
	*buf = frame
	if err == nil && len(frame)-frameLenSize > c.cfg.MaxFrameSize {
		err = fmt.Errorf("%w: %s request of %d bytes, limit %d", ErrFrameTooLarge, method, len(frame)-frameLenSize, c.cfg.MaxFrameSize)
	}
	if err == nil {
		err = c.l.send(ctx, frame)
	}
	if err != nil {
		if !c.forget(h.ID) {
			// The connection closed, or the reaper expired the call, and
			// whoever took it has finished it (or will): finishing it here
			// too would call a Go callback twice.
			return h.ID, nil
		}
		return 0, fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	return h.ID, nil
}

func encodeRequest(dst []byte, h *header, req any) ([]byte, error) {
	dst = appendFrame(dst[:0], h, nil)
	out, err := encodeBody(dst, req)
	if err != nil {
		return dst, fmt.Errorf("transport: encode %s request: %w", h.Method, err)
	}
	fixLength(out)
	return out, nil
}

// forget removes a pending call; false means the reader already took it.
func (c *Conn) forget(id uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.pending[id]
	if ok {
		delete(c.pending, id)
		if cl.cb != nil && !cl.deadline.IsZero() {
			c.timed--
		}
	}
	return ok
}

// take removes and returns a pending call.
func (c *Conn) take(id uint64) *call {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.pending[id]
	if !ok {
		return nil
	}
	delete(c.pending, id)
	if cl.cb != nil && !cl.deadline.IsZero() {
		c.timed--
	}
	return cl
}

// idleFor reports whether the connection has had no call pending for at
// least d.
func (c *Conn) idleFor(d time.Duration) bool {
	if time.Since(time.Unix(0, c.lastUsed.Load())) < d {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending) == 0
}

func (c *Conn) readLoop(br *bufio.Reader) {
	fr := &frameReader{br: br, max: c.cfg.MaxFrameSize, small: smallFrame, conn: c.l.raw, frameTimeout: c.cfg.FrameTimeout}
	err := readFrames(fr, kindResponse, "a server", func(h header, body []byte) {
		c.lastUsed.Store(time.Now().UnixNano())
		cl := c.take(h.ID)
		switch {
		case cl == nil:
			// The caller gave up on it.
		case h.Code != "":
			cl.finish(&Error{Code: h.Code, Message: h.Message})
		default:
			if derr := decodeBody(body, cl.resp); derr != nil {
				cl.finish(fmt.Errorf("transport: decode %s response: %w", c.addr, derr))
				return
			}
			cl.finish(nil)
		}
	})
	switch {
	case errors.Is(err, net.ErrClosed), c.l.closeErr() != nil:
	case errors.Is(err, io.EOF):
		// The server hung up, as it does with idle connections.
		c.logger.Debug("connection closed by the server")
	default:
		c.logger.Warn("connection closed", "error", err)
	}
	c.l.close(err)
	c.failAll()
}

// failAll finishes every pending call with the connection's close error.
func (c *Conn) failAll() {
	c.mu.Lock()
	pending := c.pending
	c.pending = make(map[uint64]*call)
	c.timed = 0
	c.mu.Unlock()
	err := c.l.closeErr()
	for _, cl := range pending {
		cl.finish(err)
	}
}

// reapLoop fails Go calls whose deadline passed without a response.
func (c *Conn) reapLoop() {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-c.l.done:
			// Calls registered after readLoop's failAll would wait forever.
			c.failAll()
			return
		case now := <-t.C:
			c.reap(now)
		}
	}
}

func (c *Conn) reap(now time.Time) {
	var expired []*call
	c.mu.Lock()
	if c.timed > 0 {
		for id, cl := range c.pending {
			if cl.cb != nil && !cl.deadline.IsZero() && now.After(cl.deadline) {
				delete(c.pending, id)
				c.timed--
				expired = append(expired, cl)
			}
		}
	}
	c.mu.Unlock()
	for _, cl := range expired {
		cl.finish(context.DeadlineExceeded)
	}
}

// bufferPool holds frame encoding buffers.
var bufferPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func getBuffer() *[]byte { return bufferPool.Get().(*[]byte) }

func putBuffer(b *[]byte) {
	if cap(*b) <= 64<<10 {
		*b = (*b)[:0]
		bufferPool.Put(b)
	}
}

// readFrames reads frames from fr until an error, handing each to handle
// (the body is valid until handle returns); a frame of another kind than
// want, from peer, ends it with ErrMalformedFrame. It returns the error
// that ended the stream.
func readFrames(fr *frameReader, want byte, peer string, handle func(h header, body []byte)) error {
	defer fr.release()
	for {
		buf, err := fr.next()
		if err != nil {
			return err
		}
		h, body, err := decodeFrame(buf)
		if err != nil {
			return err
		}
		if h.Kind != want {
			return fmt.Errorf("%w: unexpected frame kind %d from %s", ErrMalformedFrame, h.Kind, peer)
		}
		handle(h, body)
		// Before waiting for the next frame, which may be long in coming.
		fr.release()
	}
}
