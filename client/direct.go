package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/ring"
	"github.com/hoard-dev/hoard/transport"
)

// ringRefresh is how often a direct client fetches the ring again, and the
// least time between two fetches triggered by failures.
const (
	ringRefresh    = 5 * time.Second
	ringRetryAfter = time.Second
)

// direct is the ring-aware side of a Client: it keeps a copy of the
// cluster's ring and one connection per owner, and sends each keyed op
// straight to its key's owner. When the owner cannot be reached, or is
// leaving, the op goes through the client's main connection instead (that
// node forwards it) and the ring is fetched again.
type direct struct {
	c    *Client
	pool *transport.Pool

	// mu guards snap and fetched.
	mu      sync.Mutex
	snap    *ring.Snapshot
	fetched time.Time

	stop chan struct{}
	wg   sync.WaitGroup
}

func newDirect(c *Client) (*direct, error) {
	pool, err := transport.NewPool(c.tcfg)
	if err != nil {
		return nil, err
	}
	d := &direct{c: c, pool: pool, stop: make(chan struct{})}
	d.wg.Go(d.refreshLoop)
	return d, nil
}

// close stops the refresher and closes the owners' connections.
func (d *direct) close() {
	close(d.stop)
	d.wg.Wait()
	_ = d.pool.Close()
}

func (d *direct) refreshLoop() {
	t := time.NewTicker(ringRefresh)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), ringRefresh)
			d.fetch(ctx, 0)
			cancel()
		case <-d.stop:
			return
		}
	}
}

// fetch gets the ring from the cluster, unless one was fetched less than
// minAge ago.
func (d *direct) fetch(ctx context.Context, minAge time.Duration) {
	d.mu.Lock()
	fresh := time.Since(d.fetched) < minAge
	if !fresh {
		d.fetched = time.Now() // one fetch at a time
	}
	d.mu.Unlock()
	if fresh {
		return
	}
	snap, err := d.c.Ring(ctx)
	if err != nil {
		return // keep the last one; ops fall back to forwarding meanwhile
	}
	d.mu.Lock()
	d.snap = snap
	d.mu.Unlock()
}

func (d *direct) ring() *ring.Snapshot {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.snap
}

// call sends a keyed op to its owner. It reports done false when the op
// should go through the main connection instead: no ring yet, the owner
// cannot be reached (nothing was sent), it is leaving, or the connection
// broke under an idempotent op.
func (d *direct) call(ctx context.Context, method, store, key string, idempotent bool, req, resp any) (done bool, err error) {
	snap := d.ring()
	if snap == nil {
		return false, nil
	}
	_, owner := snap.Locate(store, key)
	conn, err := d.pool.Get(ctx, owner.Addr)
	if err == nil {
		err = conn.Call(ctx, method, req, resp)
		var re *transport.Error
		leaving := errors.As(err, &re) && re.Code == proto.CodeShuttingDown
		broken := idempotent && errors.Is(err, transport.ErrClosed)
		if !leaving && !broken && !errors.Is(err, transport.ErrNotSent) {
			return true, err
		}
	}
	d.fetch(ctx, ringRetryAfter)
	return false, nil
}
