// Package counter holds a counter store's unflushed state on one node: an
// int64 delta per key, sharded by partition so writers on different
// partitions never contend. It has no network and no goroutines; the node
// routes ops to it and its flush pipeline takes from it.
//
//	c := counter.New(1021)
//	n, err := c.Add(p, "/home", 1, nil) // n: the count held; errs.ErrOverflow, errs.ErrShutdown
//	counts, ranges, ops := c.Take(false, nil) // swap out every shard for a flush
package counter
