// Package client is the Go client of a hoard cluster. It is ring-aware: it
// fetches the cluster's ring from any node it is given (and again every 5s,
// or when an owner cannot be reached) and sends each op on a key straight
// to the key's owner, over one pipelined connection per node. While the
// owner is unreachable or leaving, it sends through any live node, which
// forwards. DialConfig with Config{Forward: true} keeps a single
// connection and lets the node forward every op. Safe for concurrent use.
//
//	c, err := client.Dial(ctx, "127.0.0.1:7373", "127.0.0.1:7374")
//	if err != nil { ... }
//	defer c.Close()
//	err = c.Incr(ctx, "pageviews", "/home", 1)
//	n, err := c.Count(ctx, "pageviews", "/home")
//
// A write is sent again elsewhere only when it certainly never left the
// client; otherwise the error is ErrIndeterminate and the caller decides.
// The errors a node returns are the same values as package node's
// (client.ErrOverflow == node.ErrOverflow), matched with errors.Is.
package client
