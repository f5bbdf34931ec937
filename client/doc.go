// Package client is the Go client of a hoard cluster. It talks to any node,
// which forwards each op to its key's owner; calls are pipelined over one
// connection and safe for concurrent use.
//
//	c, err := client.Dial(ctx, "127.0.0.1:7373", "127.0.0.1:7374")
//	if err != nil { ... }
//	defer c.Close()
//	err = c.Incr(ctx, "pageviews", "/home", 1)
//	n, err := c.Count(ctx, "pageviews", "/home")
//
// If the node goes away, the client moves to the next address. A write is
// retried there only when it certainly never left the client; otherwise the
// error is ErrIndeterminate and the caller decides.
package client
