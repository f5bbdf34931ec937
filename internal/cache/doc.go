// Package cache is the state machine of a cache store at the keys' owner:
// entries sharded by partition, their TTL and eviction, one load per key in
// flight, refresh, and the dump file that carries entries across restarts.
// It does no network I/O and starts no goroutine, but for Refresh's
// loads and Engine.Run's periodic jobs; the node routes ops to the owner
// and runs the loads.
//
// A miss registers its caller and, for the first one, runs the load
// outside the store's locks:
//
//	c := cache.New(cache.Config{Partitions: 64, TTL: time.Hour, MaxEntries: 100_000})
//	lc := cache.LoadConfig{Loader: users, Timeout: 10 * time.Second, MaxValueBytes: 1 << 20, Logger: logger}
//
//	v, hit, first := c.StartLoad(p, key, func(out cache.Outcome) {
//		reply(out.Value, out.Found, out.Err) // every caller of the load, the first included
//	})
//	switch {
//	case hit:
//		reply(v, true, nil)
//	case first:
//		go func() {
//			out, extra := cache.Load(ctx, stopping, lc, key)
//			c.FinishLoad(p, key, out, true) // a Set or Delete meanwhile wins
//			setElsewhere(extra)
//		}()
//	}
//
// An entry set with c.SetTTL(p, key, value, ttl) is gone ttl later, however
// often it is read or refreshed, as Redis's SET EX; the store-wide TTL
// still drops entries left unread.
//
// Engine.Run keeps each periodic job on its own schedule: Refresh every
// refresh interval, Sweep every quarter of the TTL (every second without
// one), WriteDump(path, c.List()) every dump interval; at start
// ReadDump(path, maxLine, validKey, restore) with a restore that calls
// c.Restore puts the dumped entries back, each keeping its age and expiry.
//
// When a partition moves, c.TakePartition(p) gives its entries and the
// keys deleted there within DeleteMemory; the next owner takes them with
// Adopt and AdoptDelete. Its own entries win, but for those read from its
// dump within DeleteMemory, which yield to newer ones and to later
// deletes; a delete of its own is remembered against an older entry
// arriving late.
package cache
