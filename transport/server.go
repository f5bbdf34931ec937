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
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/internal/ratelog"
)

// Handler serves requests. ServeRPC is called on the connection's reader
// goroutine, one request at a time and in the order they arrived, so it must
// not block: it decodes what it needs from req (the body is only valid until
// ServeRPC returns) and answers through r, now or later from any goroutine.
// Work that may block runs on a goroutine of the handler's own and replies
// when done. A panic in ServeRPC is recovered, logged and answered with a
// CodeInternal error; the connection stays up.
type Handler interface {
	ServeRPC(req *Request, r Reply)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(req *Request, r Reply)

// ServeRPC calls f.
func (f HandlerFunc) ServeRPC(req *Request, r Reply) { f(req, r) }

// Request is one incoming request.
type Request struct {
	Method   string
	Flags    uint8
	Deadline time.Time // the caller's deadline, zero when it has none
	Peer     Hello     // what the caller said of itself in the handshake, credentials cleared
	Identity any       // what Config.Authorize returned for the connection; nil without one
	body     []byte
}

// Decode unmarshals the request body into v. A *Raw receives a copy of the
// undecoded body. Only valid during ServeRPC.
func (r *Request) Decode(v any) error {
	if err := decodeBody(r.body, v); err != nil {
		return fmt.Errorf("transport: decode %s request: %w", r.Method, err)
	}
	return nil
}

// Context returns a context that ends at the request's deadline, if any,
// and when parent ends. Call the CancelFunc when done.
func (r *Request) Context(parent context.Context) (context.Context, context.CancelFunc) {
	if r.Deadline.IsZero() {
		return context.WithCancel(parent)
	}
	return context.WithDeadline(parent, r.Deadline)
}

// Reply answers one request. Send it exactly once; later sends are ignored
// by the caller. Until it is sent, the request keeps its connection from
// being closed as idle.
type Reply struct {
	sc *serverConn
	id uint64
}

// Send answers with resp (nil for an empty body) or with err. The error's
// code is the one given to NewError, or CodeInternal. If the connection has
// closed the reply is dropped: the caller has already seen ErrClosed. A zero
// Reply drops it too.
func (r Reply) Send(resp any, err error) {
	if r.sc == nil {
		return
	}
	r.sc.answered()
	h := header{Kind: kindResponse, ID: r.id}
	buf := getBuffer()
	defer putBuffer(buf)
	frame := appendFrame((*buf)[:0], &h, nil)
	if err == nil {
		var eerr error
		frame, eerr = encodeBody(frame, resp)
		if eerr != nil {
			err = fmt.Errorf("transport: encode response: %w", eerr)
		} else if len(frame)-frameLenSize > r.sc.srv.cfg.MaxFrameSize {
			err = fmt.Errorf("%w: response of %d bytes, limit %d", ErrFrameTooLarge, len(frame)-frameLenSize, r.sc.srv.cfg.MaxFrameSize)
		}
	}
	if err != nil {
		h.Code, h.Message = errorCode(err)
		frame = appendFrame((*buf)[:0], &h, nil)
		if over := len(frame) - frameLenSize - r.sc.srv.cfg.MaxFrameSize; over > 0 {
			// A long error message must not cost the caller its connection.
			h.Message = truncateUTF8(h.Message, len(h.Message)-over)
			frame = appendFrame((*buf)[:0], &h, nil)
		}
	}
	fixLength(frame)
	*buf = frame
	r.sc.l.sendReply(frame)
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if n >= len(s) {
		return s
	}
	if n <= 0 {
		return ""
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Server accepts connections and hands their requests to a Handler.
type Server struct {
	cfg     *Config
	handler Handler
	ln      net.Listener
	logger  hclog.Logger
	limited *ratelog.Logger // lines about what remote ends do
	local   Hello
	budget  *budget

	// mu guards conns and closed.
	mu     sync.Mutex
	conns  map[*serverConn]struct{}
	closed bool

	wg sync.WaitGroup
}

// Listen binds addr ("host:port"; port 0 picks one) and serves connections on
// it until Close. Errors wrap ErrInvalidConfig for a bad cfg.
func Listen(addr string, cfg *Config, h Handler) (*Server, error) {
	cfg, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("%w: nil handler", ErrInvalidConfig)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen %s: %w", addr, err)
	}
	s := &Server{
		cfg:     cfg,
		handler: h,
		ln:      ln,
		logger:  cfg.Logger,
		limited: ratelog.New(cfg.Logger, 0),
		local:   Hello{Protocol: ProtocolVersion, Cluster: cfg.Cluster, Name: cfg.Name},
		budget:  newBudget(cfg.MaxInFlight),
		conns:   make(map[*serverConn]struct{}),
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.acceptLoop()
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// ServerStats is a snapshot of what a Server holds.
type ServerStats struct {
	Conns         int   // open connections, handshaken or not
	InFlightBytes int64 // of Config.MaxInFlight, reserved by frames being read
	FramesWaiting int   // frames waiting for MaxInFlight
}

// Stats returns what the server holds now.
func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	n := len(s.conns)
	s.mu.Unlock()
	used, waiting := s.budget.inUse()
	return ServerStats{Conns: n, InFlightBytes: used, FramesWaiting: waiting}
}

// Close stops accepting, closes every connection and waits for their
// goroutines. Replies sent after Close are dropped. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()

	err := s.ln.Close()
	for sc := range conns {
		sc.l.close(nil)
	}
	s.wg.Wait()
	return err
}

func (s *Server) acceptLoop() {
	var backoff time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary failure such as EMFILE: back off as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.logger.Error("accept failed", "error", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		sc := &serverConn{srv: s, l: newLink(nc, s.cfg), remote: nc.RemoteAddr().String()}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			return
		}
		if len(s.conns) >= s.cfg.MaxConns {
			s.mu.Unlock()
			_ = nc.Close()
			s.limited.Warn("refused a connection: too many connections", "remote", sc.remote, "limit", s.cfg.MaxConns)
			continue
		}
		s.conns[sc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			sc.serve()
		}()
	}
}

// serverConn is the serving end of one connection.
type serverConn struct {
	srv      *Server
	l        *link
	remote   string
	peer     Hello // credentials cleared
	identity any
	tls      *tls.ConnectionState

	handling atomic.Int64 // requests dispatched and not answered
}

// answered counts a reply; a second reply to one request is not counted.
func (sc *serverConn) answered() {
	for {
		n := sc.handling.Load()
		if n <= 0 || sc.handling.CompareAndSwap(n, n-1) {
			return
		}
	}
}

func (sc *serverConn) serve() {
	defer func() {
		sc.srv.mu.Lock()
		delete(sc.srv.conns, sc)
		sc.srv.mu.Unlock()
	}()
	cfg := sc.srv.cfg
	// The TLS handshake and the hello both happen within DialTimeout.
	_ = sc.l.raw.SetDeadline(time.Now().Add(cfg.DialTimeout))
	if cfg.ServerTLS != nil {
		// A TLS connection opens with a handshake record (0x16); anything
		// else is a client that speaks plain frames: tell it, in a plain
		// hello it can read, rather than leave it with an EOF.
		peek := bufio.NewReaderSize(sc.l.raw, 512)
		if first, err := peek.Peek(1); err == nil && first[0] != tlsHandshakeRecord {
			sc.srv.limited.Warn("tls handshake failed", "remote", sc.remote, "error", "a plaintext client on the TLS port")
			refusal := header{Kind: kindHello, Code: "refused", Message: "this port speaks TLS: give the client the CA that signed the node's certificate (hoard: --ca-file or HOARD_CA_FILE)"}
			_, _ = sc.l.raw.Write(appendFrame(nil, &refusal, nil))
			sc.lingeringClose(errPlaintext)
			return
		}
		tc := tls.Server(peekedConn{Conn: sc.l.raw, r: peek}, cfg.ServerTLS)
		if err := tc.Handshake(); err != nil {
			if sc.l.closeErr() == nil {
				sc.srv.limited.Warn("tls handshake failed", "remote", sc.remote, "error", err)
			}
			sc.lingeringClose(err)
			return
		}
		state := tc.ConnectionState()
		sc.tls = &state
		sc.l.conn = tc
	}
	br := bufio.NewReaderSize(sc.l.conn, 64<<10)
	if err := sc.handshake(br); err != nil {
		switch {
		case sc.l.closeErr() != nil:
		case errors.Is(err, ErrUnauthorized):
			sc.srv.limited.Warn("refused an unauthorized connection", "remote", sc.remote, "peer", sc.peer.Name, "reason", err)
		default:
			sc.srv.limited.Warn("handshake failed", "remote", sc.remote, "error", err)
		}
		sc.l.close(err)
		return
	}
	_ = sc.l.raw.SetDeadline(time.Time{})
	sc.l.start()
	defer sc.l.wg.Wait()

	fr := &frameReader{
		br:           br,
		max:          cfg.MaxFrameSize,
		small:        smallFrame,
		conn:         sc.l.raw,
		frameTimeout: cfg.FrameTimeout,
		idleTimeout:  cfg.IdleTimeout,
		busy:         func() bool { return sc.handling.Load() > 0 },
		budget:       sc.srv.budget,
		done:         sc.l.done,
	}
	err := readFrames(fr, kindRequest, "a client", func(h header, body []byte) {
		req := Request{Method: h.Method, Flags: h.Flags, Peer: sc.peer, Identity: sc.identity, body: body}
		if h.Timeout > 0 {
			req.Deadline = time.Now().Add(time.Duration(h.Timeout))
		}
		sc.handling.Add(1)
		sc.dispatch(&req, Reply{sc: sc, id: h.ID})
	})
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), sc.l.closeErr() != nil:
		// The client hung up or we are closing.
	case errors.Is(err, errIdle):
		sc.srv.limited.Debug("closing an idle connection", "remote", sc.remote, "peer", sc.peer.Name, "after", cfg.IdleTimeout)
	case errors.Is(err, errFrameTimeout):
		sc.srv.limited.Warn("closing a connection: frame timed out", "remote", sc.remote, "peer", sc.peer.Name, "error", err)
	default:
		sc.srv.limited.Warn("closing a connection: bad input", "remote", sc.remote, "peer", sc.peer.Name, "error", err)
	}
	sc.l.close(err)
}

// dispatch hands one request to the handler, turning a panic into an error
// reply so that one bad request does not take the node down.
func (sc *serverConn) dispatch(req *Request, r Reply) {
	defer func() {
		if p := recover(); p != nil {
			sc.srv.limited.Log(hclog.Error, "handler panicked", "method", req.Method, "peer", sc.peer.Name, "panic", p)
			r.Send(nil, fmt.Errorf("transport: %s handler panicked: %v", req.Method, p))
		}
	}()
	sc.srv.handler.ServeRPC(req, r)
}

// handshake reads the client's hello and answers with ours, or with a
// refusal. Errors wrap ErrUnauthorized when Authorize refused the client.
func (sc *serverConn) handshake(br *bufio.Reader) error {
	buf, err := readFrame(br, min(sc.srv.cfg.MaxFrameSize, maxHelloSize))
	if err != nil {
		return err
	}
	h, body, err := decodeFrame(buf)
	if err != nil {
		return err
	}
	if h.Kind != kindHello {
		return fmt.Errorf("%w: first frame is kind %d, not a hello", ErrHandshake, h.Kind)
	}
	var peer Hello
	if err := decodeBody(body, &peer); err != nil {
		return fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	sc.peer = peer.withoutSecrets()
	reply := header{Kind: kindHello}
	var out []byte
	if err = sc.srv.local.check(peer); err != nil {
		reply.Code, reply.Message = "refused", err.Error()
		out = appendFrame(nil, &reply, nil)
	} else if sc.identity, err = sc.authorize(peer); err != nil {
		reply.Code, reply.Message = codeUnauthorized, err.Error()
		err = fmt.Errorf("%w: %s", ErrUnauthorized, err.Error())
		out = appendFrame(nil, &reply, nil)
	} else if out, err = encodeBody(appendFrame(nil, &reply, nil), sc.srv.local); err == nil {
		fixLength(out)
	}
	if _, werr := sc.l.conn.Write(out); werr != nil && err == nil {
		err = werr
	}
	return err
}

// lingeringClose closes a connection whose last bytes (a TLS alert) the
// client has yet to read: closing at once, with the client's bytes unread,
// would reset the connection and could lose the alert, leaving the client
// with "connection reset" instead of the reason. It shuts down our side and
// drains what the client sends for up to a second.
func (sc *serverConn) lingeringClose(err error) {
	if tc, ok := sc.l.raw.(*net.TCPConn); ok && tc.CloseWrite() == nil {
		_ = tc.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.Copy(io.Discard, io.LimitReader(tc, 64<<10))
	}
	sc.l.close(err)
}

// tlsHandshakeRecord is the first byte of every TLS connection.
const tlsHandshakeRecord = 0x16

// errPlaintext ends a plaintext connection to a TLS port.
var errPlaintext = errors.New("a plaintext client on the TLS port")

// peekedConn reads through the reader that peeked at its first bytes.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// codeUnauthorized is the code of a hello refusing the dialler's
// credentials.
const codeUnauthorized = "unauthorized"

// authorize runs Config.Authorize, turning a panic into a refusal.
func (sc *serverConn) authorize(peer Hello) (identity any, err error) {
	if sc.srv.cfg.Authorize == nil {
		return nil, nil
	}
	defer func() {
		if p := recover(); p != nil {
			sc.srv.limited.Log(hclog.Error, "authorize panicked", "remote", sc.remote, "panic", p)
			identity, err = nil, errors.New("the server failed to check the credentials")
		}
	}()
	return sc.srv.cfg.Authorize(peer, sc.tls)
}
