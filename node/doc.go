// Package node is a hoard node: the composition root that declares the
// stores, routes each op to its key's owner, reacts to ring changes, and
// runs the RPC and HTTP endpoints, membership and lifecycle. The parts it
// wires live in their own packages: the router (internal/route), the store
// kinds (internal/counter, internal/buffer, internal/cache), the flush
// pipeline (internal/flush), membership (cluster) and placement (ring).
//
//	n, err := node.Start(ctx, &node.Config{
//		Name: "n1", BindAddr: "127.0.0.1:7946", RPCAddr: "127.0.0.1:7373",
//		DataDir: "./data/n1", Join: []string{"127.0.0.1:7947"},
//		Stores: []node.StoreConfig{{Name: "pageviews", Kind: node.KindCounter, Sink: sink}},
//	})
//	if err != nil { ... }
//	defer n.Leave(ctx)
//	err = n.Incr(ctx, "pageviews", "/home", 1)
//
// Write path: an op that arrives at a node that does not own its key is
// forwarded to the owner over one pooled connection per peer, where ops
// queued meanwhile share one frame. A forwarded op is never forwarded again:
// an owner that no longer owns the partition answers ErrNotOwner and the
// sender routes it again on its newer ring, backing off until the caller's
// deadline. Acknowledged means applied in the owner's memory.
//
// Flush path: each store flushes every Interval (plus jitter), on Flush, and
// on Leave or Shutdown. A flush swaps the store's maps and hands one batch,
// with an ID unique in the cluster's history, to the sink; failures are
// retried RetryMax times in all with growing gaps, then the batch is written
// to the dead-letter in DataDir, from which ReplayDeadLetters sends it again.
//
// A zero field of Config or StoreConfig means its default, the value
// DefaultConfig and DefaultStoreConfig hold.
package node
