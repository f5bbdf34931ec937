// Package counter holds a counter store's unflushed state on one node: an
// int64 delta per key, sharded by partition so writers on different
// partitions never contend. It has no network and no goroutines; the node
// routes ops to it and its flush pipeline takes from it. A partition keeps
// its keys in a table without Go pointers, some 35 bytes of heap for a key
// of 12 bytes; BenchmarkAddDistinctKeys reports it as heap-bytes/key.
//
//	c := counter.New(1021)
//	n, err := c.Add(p, "/home", 1, nil) // n: the count held; errs.ErrOverflow, errs.ErrShutdown
//	counts, ranges, ops := c.Take(false, nil) // swap out every shard for a flush
package counter
