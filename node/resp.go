package node

import (
	"fmt"
	"net"
	"time"

	"github.com/hoard-dev/hoard/internal/cache"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/internal/resp"
)

// listenRESP opens the RESP listener on RESPAddr.
func (n *Node) listenRESP() (*resp.Server, error) {
	ln, err := net.Listen("tcp", n.cfg.RESPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen resp %s: %w", n.cfg.RESPAddr, err)
	}
	n.cfg.RESPAddr = ln.Addr().String()
	rc := resp.Config{
		Separator: n.cfg.RESPSeparator, Version: Version, Logger: n.logger.Named("resp"),
		Tokens: n.tokens, MaxConns: n.cfg.MaxConns, IdleTimeout: n.cfg.IdleTimeout,
	}
	if n.tls != nil {
		rc.TLS = n.tls.ServerConfig()
	}
	if err := rc.Validate(); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return resp.New(ln, respBackend{n}, rc), nil
}

// RESPAddr is the address the RESP listener is bound to ("" when off).
func (n *Node) RESPAddr() string { return n.cfg.RESPAddr }

// respBackend is the node as the RESP server's backend.
type respBackend struct{ n *Node }

func (b respBackend) Start(o *op.Op, done func(op.Result)) (op.Result, bool) {
	return b.n.start(o, time.Time{}, done) // the router's OpTimeout
}

// Peek answers a cache Get at once from this node's memory when the node
// owns the key and holds it (see resp.Peeker).
func (b respBackend) Peek(o *op.Op) ([]byte, bool) {
	n := b.n
	if o.Kind != op.Get || n.refusing() {
		return nil, false
	}
	s, err := n.stores.Get(o.Store)
	if err != nil {
		return nil, false
	}
	e, ok := s.Engine.(*cache.Engine)
	if !ok {
		return nil, false
	}
	p, mine := n.router.Local(o.Store, o.Key)
	if !mine {
		return nil, false
	}
	return e.Peek(p, o.Key)
}

func (b respBackend) StoreKind(store string) string {
	if s, err := b.n.stores.Get(store); err == nil {
		return string(s.Config.Kind)
	}
	return ""
}

func (b respBackend) Info() resp.Info {
	info := resp.Info{Node: b.n.cfg.Name, Members: len(b.n.cluster.Members())}
	stores, _ := b.n.Info("")
	for _, s := range stores {
		info.Stores = append(info.Stores, resp.StoreInfo{Name: s.Name, Kind: string(s.Kind), Keys: s.Keys, Values: s.Values})
	}
	return info
}
