package client

import (
	"context"

	"github.com/hoard-dev/hoard/internal/proto"
)

// FetchResult is what Fetch found.
type FetchResult struct {
	Value  []byte
	Found  bool // false: the loader says the key does not exist
	Loaded bool // the value came from the loader (a miss), not the cache
}

// Get returns key's value from a cache store, loaded at the key's owner on
// a miss (DataWorker's get). A loader failure reads as not found.
func (c *Client) Get(ctx context.Context, store, key string) ([]byte, bool, error) {
	var resp proto.GetResponse
	err := c.keyed(ctx, proto.MethodGet, store, key, true, proto.KeyRequest{Store: store, Key: key}, &resp)
	return resp.Value, resp.Found, err
}

// Fetch is Get that says whether the value came from the cache or a load,
// and returns the loader's failure as ErrLoadFailed (DataWorker's fetch).
func (c *Client) Fetch(ctx context.Context, store, key string) (FetchResult, error) {
	var resp proto.GetResponse
	err := c.keyed(ctx, proto.MethodFetch, store, key, true, proto.KeyRequest{Store: store, Key: key}, &resp)
	return FetchResult{Value: resp.Value, Found: resp.Found, Loaded: resp.Loaded}, err
}

// Set stores value for key in a cache store at its owner, without the
// loader (DataWorker's direct_set).
func (c *Client) Set(ctx context.Context, store, key string, value []byte) error {
	return c.keyed(ctx, proto.MethodSet, store, key, true, proto.SetRequest{Store: store, Key: key, Value: value}, nil)
}

// Delete removes key from a cache store; it reports whether there was an
// entry.
func (c *Client) Delete(ctx context.Context, store, key string) (bool, error) {
	var resp proto.CountResponse
	err := c.keyed(ctx, proto.MethodDelete, store, key, true, proto.KeyRequest{Store: store, Key: key}, &resp)
	return resp.Count != 0, err
}
