package transport

import (
	"context"
	"sync"
)

// Peer is a node to call: its name and RPC address.
type Peer struct {
	Name, Addr string
}

// Gather calls method with req on every peer in parallel and returns one
// part per peer, in no particular order: the single part the peer's
// response (of type R) holds, as parts extracts it, or failed(name, err)
// when the peer cannot be reached, fails, or answers other than one part
// (then err is nil). local, when not nil, runs meanwhile on the caller's
// goroutine and its part is added to the others.
func Gather[T, R any](ctx context.Context, pool *Pool, peers []Peer, method string, req any, local func() T,
	parts func(*R) []T, failed func(name string, err error) T) []T {
	var mu sync.Mutex // guards out
	var out []T
	add := func(part T) {
		mu.Lock()
		out = append(out, part)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for _, peer := range peers {
		wg.Go(func() {
			conn, err := pool.Get(ctx, peer.Addr)
			if err == nil {
				resp := new(R)
				if err = conn.Call(ctx, method, req, resp); err == nil {
					if ps := parts(resp); len(ps) == 1 {
						add(ps[0])
						return
					}
				}
			}
			add(failed(peer.Name, err))
		})
	}
	if local != nil {
		add(local())
	}
	wg.Wait()
	return out
}
