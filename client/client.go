package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/ring"
	"github.com/hoard-dev/hoard/transport"
)

var (
	// ErrUnavailable is returned when no node could be reached at any of the
	// client's addresses, or the key's owner could not be reached in time.
	ErrUnavailable = errors.New("client: no node reachable")

	// ErrInvalid is returned when a node rejected an argument (an empty or
	// oversized key, a value over the limit, a malformed request).
	ErrInvalid = errors.New("client: invalid request")

	// ErrClosed is returned by calls after Close.
	ErrClosed = errors.New("client: closed")

	// The errors below are the node's own (package node exports the same
	// values), carried over the wire by their codes.

	// ErrShuttingDown is returned when the node is leaving or stopping.
	ErrShuttingDown = errs.ErrShutdown

	// ErrNoRing is returned when the node has no ring to place keys with.
	ErrNoRing = errs.ErrNoRing

	// ErrUnknownStore is returned for a store the cluster does not declare.
	ErrUnknownStore = errs.ErrUnknownStore

	// ErrWrongKind is returned for an op that does not fit the store's kind.
	ErrWrongKind = errs.ErrWrongKind

	// ErrOverflow is returned when an increment would overflow the key's
	// unflushed int64 count. Nothing was applied.
	ErrOverflow = errs.ErrOverflow

	// ErrIndeterminate is returned when a connection broke after an op was
	// sent: it may or may not have been applied.
	ErrIndeterminate = errs.ErrIndeterminate

	// ErrOverloaded is returned by Insert when the owner holds its
	// max_bytes for the store: nothing was applied; back off and retry.
	ErrOverloaded = errs.ErrOverloaded

	// ErrLoadFailed is returned by Fetch when the cache's loader failed at
	// the key's owner. The failure is not cached.
	ErrLoadFailed = errs.ErrLoadFailed

	// ErrUnauthorized: the node refused the client's credentials when it
	// connected: no token, a token it does not know, or (with mutual TLS)
	// no certificate it trusts.
	ErrUnauthorized = transport.ErrUnauthorized

	// ErrForbidden: the client's token does not allow the call (a write
	// token asking for Leave, say). Nothing was done.
	ErrForbidden = errs.ErrForbidden
)

// Client talks to a hoard cluster through any of its nodes. It keeps one
// connection, pipelining concurrent calls over it, and moves to the next
// address when the node it talks to goes away. Safe for concurrent use.
type Client struct {
	addrs []string
	tcfg  *transport.Config

	// mu guards conn, next and closed.
	mu     sync.Mutex
	conn   *transport.Conn
	next   int // index of the address to try first
	closed bool

	// direct is nil when Config.Forward, and after Close. Read without mu,
	// so that ops on keys never wait behind a redial of the main
	// connection.
	direct atomic.Pointer[direct]

	async asyncState
}

// Config configures a Client.
type Config struct {
	// Addrs are RPC addresses (host:port) of nodes to talk to, tried in
	// turn. Required.
	Addrs []string

	// Forward makes the client send every op to the one node it is
	// connected to, which forwards it to the key's owner: one connection,
	// and a hop more for most ops. By default (false) the client keeps a
	// copy of the ring and sends each op on a key straight to its owner,
	// over one connection per node, falling back to forwarding while the
	// owner cannot be reached.
	Forward bool

	// Token is the client's credential, sent when it connects: needed when
	// the nodes declare tokens, and its role (read, write, admin) decides
	// what the client may do. Empty: none.
	Token string

	// TLS, when not nil, makes the client speak TLS to the nodes: RootCAs
	// to verify them and, for mutual TLS, a client certificate
	// (Certificates). A config with an empty ServerName verifies each node
	// against the address dialled. Nil: plain TCP.
	TLS *tls.Config
}

// Dial connects to the first reachable node of addrs (RPC addresses,
// host:port) and fetches the ring, so that ops go straight to their keys'
// owners. Errors wrap ErrUnavailable with each address's failure.
func Dial(ctx context.Context, addrs ...string) (*Client, error) {
	return DialConfig(ctx, Config{Addrs: addrs})
}

// DialConfig is Dial with a Config.
func DialConfig(ctx context.Context, cfg Config) (*Client, error) {
	if len(cfg.Addrs) == 0 {
		return nil, fmt.Errorf("%w: no address given", ErrUnavailable)
	}
	tcfg := transport.DefaultConfig()
	tcfg.Token, tcfg.ClientTLS = cfg.Token, cfg.TLS
	c := &Client{addrs: append([]string(nil), cfg.Addrs...), tcfg: tcfg}
	if _, err := c.connection(ctx); err != nil {
		return nil, err
	}
	if !cfg.Forward {
		d, err := newDirect(c)
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		c.direct.Store(d)
		d.fetch(ctx, 0)
	}
	return c, nil
}

// Close closes the connections. Calls after Close return ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	conn := c.conn
	c.conn, c.closed = nil, true
	c.mu.Unlock()
	var err error
	if conn != nil {
		err = conn.Close() // first: a ring refresh in flight on it ends at once
	}
	if d := c.direct.Swap(nil); d != nil {
		d.close()
	}
	return err
}

// keyed runs an op on one key: straight to the key's owner when the client
// knows the ring, else (or when the owner cannot take it) through the main
// connection.
func (c *Client) keyed(ctx context.Context, method, store, key string, idempotent bool, req, resp any) error {
	if d := c.direct.Load(); d != nil {
		if done, err := d.call(ctx, method, store, key, idempotent, req, resp); done {
			if errors.Is(err, transport.ErrClosed) {
				return fmt.Errorf("%w: %w", ErrIndeterminate, err)
			}
			return mapError(err)
		}
	}
	return c.call(ctx, method, idempotent, req, resp)
}

// Addr is the address of the node the client currently talks to, "" when
// it has no connection.
func (c *Client) Addr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return ""
	}
	return c.conn.Addr()
}

// connection returns the open connection, dialling the addresses in turn,
// starting after the last one that worked, when there is none.
func (c *Client) connection(ctx context.Context) (*transport.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.conn != nil && c.conn.Err() == nil {
		return c.conn, nil
	}
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
	var errs []error
	for i := range c.addrs {
		idx := (c.next + i) % len(c.addrs)
		conn, err := transport.Dial(ctx, c.addrs[idx], c.tcfg)
		if err == nil {
			c.conn, c.next = conn, idx
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if err := errors.Join(errs...); errors.Is(err, ErrUnauthorized) {
		return nil, fmt.Errorf("client: %w", err) // reached, and refused
	}
	return nil, fmt.Errorf("%w: %w", ErrUnavailable, errors.Join(errs...))
}

// call runs a request. If the connection is found broken before the request
// went out, it moves to the next node and tries again, once per address; a
// connection that breaks after the request went out gives ErrIndeterminate
// for writes (idempotent reads are retried).
func (c *Client) call(ctx context.Context, method string, idempotent bool, req, resp any) error {
	for attempt := 0; ; attempt++ {
		conn, err := c.connection(ctx)
		if err != nil {
			return err
		}
		err = conn.Call(ctx, method, req, resp)
		// A node that is shutting down applied nothing: another may take it.
		var re *transport.Error
		leaving := errors.As(err, &re) && re.Code == proto.CodeShuttingDown
		retry := leaving || errors.Is(err, transport.ErrNotSent) || (idempotent && errors.Is(err, transport.ErrClosed))
		// Not-sent requests may go to the same address again (its connection
		// is redialled); a leaving node's only to another.
		tries := len(c.addrs)
		if leaving {
			tries--
		}
		if retry && ctx.Err() == nil && attempt < tries {
			c.mu.Lock()
			if c.conn == conn {
				c.next = (c.next + 1) % len(c.addrs)
				if leaving {
					c.conn = nil // connection() dials the next address
					defer conn.Close()
				}
			}
			c.mu.Unlock()
			continue
		}
		if errors.Is(err, transport.ErrClosed) && !errors.Is(err, transport.ErrNotSent) {
			return fmt.Errorf("%w: %w", ErrIndeterminate, err)
		}
		return mapError(err)
	}
}

// mapError turns a node's coded error into the sentinel errors (the
// registry in internal/proto), adding the client's broader ErrInvalid and
// ErrUnavailable where they apply.
func mapError(err error) error {
	if err == nil {
		return nil // the common case, without errors.As's allocation
	}
	var re *transport.Error
	if !errors.As(err, &re) {
		return err
	}
	mapped, ok := proto.ErrorOf(re.Code, re.Message)
	if !ok {
		return err
	}
	switch re.Code {
	case proto.CodeUnavailable, proto.CodeNotOwner:
		return fmt.Errorf("%w: %w", ErrUnavailable, mapped)
	case proto.CodeInvalid, proto.CodeInvalidValue:
		return fmt.Errorf("%w: %w", ErrInvalid, mapped)
	}
	return mapped
}

// Status describes the node answering.
type Status = proto.Status

// Member is a member as the answering node sees it.
type Member = proto.Member

// Placement is where a key lives.
type Placement struct {
	Partition   int
	Owner       ring.Member
	Backups     []ring.Member
	RingVersion uint64
}

// Status returns the answering node's name, version and readiness.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.call(ctx, proto.MethodStatus, true, nil, &s)
	return s, err
}

// Leave asks the node the client talks to to leave the cluster gracefully:
// it stops taking writes, flushes everything and leaves the gossip (an
// agent then exits). It returns once the node accepted the request.
func (c *Client) Leave(ctx context.Context) error {
	// Never another node than the one connected: no failover here.
	conn, err := c.connection(ctx)
	if err != nil {
		return err
	}
	return mapError(conn.Call(ctx, proto.MethodLeave, nil, nil))
}

// Members lists the members the answering node knows, sorted by name.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var resp proto.MembersResponse
	if err := c.call(ctx, proto.MethodMembers, true, nil, &resp); err != nil {
		return nil, err
	}
	return resp.Members, nil
}

// Ring returns the answering node's ring, rebuilt locally: the snapshot
// places keys exactly as the node does. Errors: ErrNoRing, or a mismatch
// between the rebuilt ring and the node's checksum.
func (c *Client) Ring(ctx context.Context) (*ring.Snapshot, error) {
	var resp proto.RingResponse
	if err := c.call(ctx, proto.MethodRing, true, nil, &resp); err != nil {
		return nil, err
	}
	members := make([]ring.Member, len(resp.Members))
	for i, m := range resp.Members {
		members[i] = ring.Member{Name: m.Name, Addr: m.Addr}
	}
	cfg := ring.Config{Partitions: resp.Partitions, Load: resp.Load, VirtualNodes: resp.VirtualNodes, Backups: resp.Backups}
	snap, err := ring.New(cfg, resp.Version, members)
	if err != nil {
		return nil, fmt.Errorf("client: rebuild ring: %w", err)
	}
	if snap.Checksum() != resp.Checksum {
		return nil, fmt.Errorf("client: rebuilt ring has checksum %x, the node's has %x", snap.Checksum(), resp.Checksum)
	}
	return snap, nil
}

// Owner asks the node where key of store lives. Errors: ErrInvalid for an
// empty or oversized key.
func (c *Client) Owner(ctx context.Context, store, key string) (Placement, error) {
	var resp proto.OwnerResponse
	if err := c.call(ctx, proto.MethodOwner, true, proto.OwnerRequest{Store: store, Key: key}, &resp); err != nil {
		return Placement{}, err
	}
	pl := Placement{
		Partition:   resp.Partition,
		Owner:       ring.Member{Name: resp.Owner.Name, Addr: resp.Owner.Addr},
		RingVersion: resp.RingVersion,
	}
	for _, b := range resp.Backups {
		pl.Backups = append(pl.Backups, ring.Member{Name: b.Name, Addr: b.Addr})
	}
	return pl, nil
}
