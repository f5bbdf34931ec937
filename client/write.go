package client

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/hoard-dev/hoard/internal/proto"
)

// Incr adds delta to key of a counter store. It returns once the key's owner
// has applied it. Errors: ErrUnknownStore, ErrWrongKind, ErrInvalid,
// ErrOverflow, ErrUnavailable (no node, or the owner, could be reached:
// nothing was applied), ErrIndeterminate (a connection broke after the
// increment was sent: it may have been applied), ErrShuttingDown, or the
// context's error.
func (c *Client) Incr(ctx context.Context, store, key string, delta int64) error {
	return c.keyed(ctx, proto.MethodIncr, store, key, false, proto.IncrRequest{Store: store, Key: key, Delta: delta}, nil)
}

// Count returns the owner's unflushed delta for key of a counter store.
func (c *Client) Count(ctx context.Context, store, key string) (int64, error) {
	var resp proto.CountResponse
	err := c.keyed(ctx, proto.MethodCount, store, key, true, proto.KeyRequest{Store: store, Key: key}, &resp)
	return resp.Count, err
}

// IncrAsync sends an increment without waiting for it (StatBuffer's
// async_increment): the node that receives it aggregates it with others to
// the same key and sends the sum to the owner within about 50ms. It returns
// an error only if the increment could not be sent; failures reported later
// by the node are counted in AsyncFailures.
func (c *Client) IncrAsync(ctx context.Context, store, key string, delta int64) error {
	conn, err := c.connection(ctx)
	if err != nil {
		return err
	}
	conn.Go(ctx, proto.MethodIncrAsync, 0, proto.IncrRequest{Store: store, Key: key, Delta: delta}, nil, c.asyncDone)
	return nil
}

// asyncState records failures of async increments.
type asyncState struct {
	failures atomic.Int64
	// mu guards last.
	mu   sync.Mutex
	last error
}

func (c *Client) asyncDone(err error) {
	if err == nil {
		return
	}
	c.async.failures.Add(1)
	c.async.mu.Lock()
	c.async.last = mapError(err)
	c.async.mu.Unlock()
}

// AsyncFailures returns how many async increments failed after they were
// sent, and the last error.
func (c *Client) AsyncFailures() (int64, error) {
	c.async.mu.Lock()
	defer c.async.mu.Unlock()
	return c.async.failures.Load(), c.async.last
}

// NodeFlush is what one node flushed.
type NodeFlush = proto.NodeFlush

// Flush flushes store ("" for every store) on every live node now and
// returns what each node flushed. A node whose flush failed (its batches
// were dead-lettered, or it could not be reached) has Error set, and Flush
// returns an error too.
func (c *Client) Flush(ctx context.Context, store string) ([]NodeFlush, error) {
	var resp proto.FlushResponse
	if err := c.call(ctx, proto.MethodFlush, true, proto.FlushRequest{Store: store}, &resp); err != nil {
		return nil, err
	}
	var errs []error
	for _, nf := range resp.Nodes {
		if nf.Error != "" {
			errs = append(errs, errors.New(nf.Node+": "+nf.Error))
		}
	}
	return resp.Nodes, errors.Join(errs...)
}

// DeadLetter describes one dead-lettered batch.
type DeadLetter = proto.DeadLetter

// DeadLetters lists the dead-lettered batches of store ("" for all) held
// by the node the client talks to.
func (c *Client) DeadLetters(ctx context.Context, store string) ([]DeadLetter, error) {
	var resp proto.DLQListResponse
	err := c.call(ctx, proto.MethodDLQList, true, proto.DLQRequest{Store: store}, &resp)
	return resp.Letters, err
}

// ReplayResult says which batches a replay delivered and which failed.
type ReplayResult = proto.DLQReplayResponse

// ReplayDeadLetters sends the dead-lettered batches of store ("" for all)
// held by the node the client talks to to their sink again, with their
// original batch IDs; each is removed once the sink accepted it.
func (c *Client) ReplayDeadLetters(ctx context.Context, store string) (ReplayResult, error) {
	var resp proto.DLQReplayResponse
	err := c.call(ctx, proto.MethodDLQReplay, false, proto.DLQRequest{Store: store}, &resp)
	return resp, err
}

// Insert appends values, in order, to key of a buffer store. It returns
// once the owner holds them. Values sent by one client to one key reach the
// sink in the order they were inserted. Errors: as Incr, plus ErrOverloaded
// when the owner holds its max_bytes for the store (back off and retry).
func (c *Client) Insert(ctx context.Context, store, key string, values ...[]byte) error {
	return c.keyed(ctx, proto.MethodInsert, store, key, false, proto.InsertRequest{Store: store, Key: key, Values: values}, nil)
}

// Size returns how many values key of a buffer store holds at its owner,
// not yet flushed.
func (c *Client) Size(ctx context.Context, store, key string) (int, error) {
	var resp proto.CountResponse
	err := c.keyed(ctx, proto.MethodSize, store, key, true, proto.KeyRequest{Store: store, Key: key}, &resp)
	return int(resp.Count), err
}

// Dump returns the values key of a buffer store holds at its owner, oldest
// first, without removing them.
func (c *Client) Dump(ctx context.Context, store, key string) ([][]byte, error) {
	var resp proto.ValuesResponse
	err := c.keyed(ctx, proto.MethodDump, store, key, true, proto.KeyRequest{Store: store, Key: key}, &resp)
	return resp.Values, err
}

// NodeInfo is one node's state: its unflushed ops and its stores.
type NodeInfo = proto.NodeInfo

// Info describes store ("" for every store) on every live node.
func (c *Client) Info(ctx context.Context, store string) ([]NodeInfo, error) {
	var resp proto.InfoResponse
	err := c.call(ctx, proto.MethodInfo, true, proto.InfoRequest{Store: store}, &resp)
	return resp.Nodes, err
}

// NodeKeyring is one node's gossip keyring: base64 keys, the primary
// among them, or why the operation failed there.
type NodeKeyring = proto.NodeKeyring

// Keyring lists (op "list") or changes (ops "install", "use", "remove",
// with key in base64) the gossip keyring on every live member, as `hoard
// keyring` does. It needs an admin token. A node that failed the operation
// is listed with its error, and the returned error names each.
func (c *Client) Keyring(ctx context.Context, op, key string) ([]NodeKeyring, error) {
	var resp proto.KeyringResponse
	if err := c.call(ctx, proto.MethodKeyring, true, proto.KeyringRequest{Op: op, Key: key}, &resp); err != nil {
		return nil, err
	}
	var errs []error
	for _, nk := range resp.Nodes {
		if nk.Error != "" {
			errs = append(errs, errors.New(nk.Node+": "+nk.Error))
		}
	}
	return resp.Nodes, errors.Join(errs...)
}
