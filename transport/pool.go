package transport

import (
	"context"
	"sync"
)

// Pool keeps one connection per address and redials when one has closed,
// or has been idle for more than half of Config.IdleTimeout (a server closes
// connections idle for IdleTimeout). Concurrent Gets for an address share
// one dial. A Pool is safe for
// concurrent use.
type Pool struct {
	cfg *Config

	// mu guards conns and closed.
	mu     sync.Mutex
	conns  map[string]*poolEntry
	closed bool
}

// poolEntry is an address's connection, or the dial in progress for it.
type poolEntry struct {
	ready chan struct{} // closed when the dial finished
	conn  *Conn
	err   error
	// gaveUp: the dial failed because the context of the Get that ran it
	// ended; Gets that shared the dial try again with their own.
	gaveUp bool
}

// NewPool returns an empty pool whose connections use cfg. Errors wrap
// ErrInvalidConfig.
func NewPool(cfg *Config) (*Pool, error) {
	cfg, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	return &Pool{cfg: cfg, conns: make(map[string]*poolEntry)}, nil
}

// Get returns the open connection to addr, dialling one if there is none.
// The context bounds the dial. After Close it returns ErrClosed.
func (p *Pool) Get(ctx context.Context, addr string) (*Conn, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		e, ok := p.conns[addr]
		if !ok {
			e = &poolEntry{ready: make(chan struct{})}
			p.conns[addr] = e
			p.mu.Unlock()
			p.dial(ctx, addr, e)
			return e.conn, e.err
		}
		p.mu.Unlock()

		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err != nil {
			if e.gaveUp && ctx.Err() == nil {
				continue // dial() has forgotten e
			}
			return nil, e.err
		}
		if e.conn.Err() == nil && !e.conn.idleFor(p.cfg.IdleTimeout/2) {
			return e.conn, nil
		}
		// Closed since, or idle long enough that the server may be closing
		// it: drop it and dial again.
		p.mu.Lock()
		if p.conns[addr] == e {
			delete(p.conns, addr)
		}
		p.mu.Unlock()
		_ = e.conn.Close() // when closed already, this only waits for its goroutines to end
	}
}

func (p *Pool) dial(ctx context.Context, addr string, e *poolEntry) {
	defer close(e.ready)
	e.conn, e.err = Dial(ctx, addr, p.cfg)
	p.mu.Lock()
	switch {
	case e.err != nil:
		e.gaveUp = ctx.Err() != nil
		// Forget the failure so the next Get dials again.
		if p.conns[addr] == e {
			delete(p.conns, addr)
		}
	case p.closed:
		conn := e.conn
		e.conn, e.err = nil, ErrClosed
		p.mu.Unlock()
		// Before ready is closed, so that Close has nothing left running
		// when it returns.
		_ = conn.Close()
		return
	}
	p.mu.Unlock()
}

// Close closes every connection and makes later Gets fail. Idempotent.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = map[string]*poolEntry{}
	p.mu.Unlock()
	for _, e := range conns {
		<-e.ready
		if e.conn != nil {
			_ = e.conn.Close()
		}
	}
	return nil
}
