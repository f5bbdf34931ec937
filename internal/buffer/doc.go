// Package buffer holds a buffer store's unflushed state on one node: the
// values appended to each key, in order, sharded by partition. Each key
// flushes on its own clock: Interval (plus jitter) after its first value
// since its last flush, or at once when it holds MaxSize values. MaxBytes
// bounds what one node holds. No network, no goroutines: the node routes
// ops to it and its flush loop takes what is due.
//
//	b := buffer.New(buffer.Config{Partitions: 1021, Interval: 5 * time.Second, MaxBytes: 64 << 20})
//	err := b.Add(p, "u1", [][]byte{[]byte("a")}) // errs.ErrOverloaded, errs.ErrShutdown
//	values, ops, bytes := b.Take(time.Now(), false, false, nil) // the keys that are due
//	b.Release(bytes) // once the batch is delivered or dead-lettered
package buffer
