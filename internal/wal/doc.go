// Package wal is a node's write-ahead log: a directory of segment files
// (%016d.wal, numbered from 1), each a run of records framed as a 4-byte
// little-endian payload length, the payload's 4-byte CRC-32C (Castagnoli),
// then the payload.
//
// A log is written by one incarnation of a node and only read afterwards:
// Open refuses a dir that holds segments, and Read replays one, cutting a
// torn tail.
//
//	l, err := wal.Open(wal.Options{Dir: dir, Logger: logger}) // SyncEvery 0: fsync before ack
//	...
//	t, err := l.Append(encoded) // copies encoded; no I/O
//	if err := l.Wait(ctx, t); err != nil { ... } // written and fsynced
//	...
//	// Once the sink committed every op of a sealed segment:
//	err = l.Remove(segment)
//	...
//	err = l.Close() // writes and fsyncs what is pending
//
//	// At the next start, before serving:
//	torn, err := wal.Read(oldDir, func(segment uint64, rec []byte) error {
//		return apply(rec) // rec is valid only during the call
//	})
//
// One writer goroutine takes everything appended since its last write and
// writes it with one write(2) per segment, then fsyncs once for all of it
// (group commit), so concurrent waiters share the cost. With
// Options.SyncEvery > 0 Wait returns after write(2) and a background
// goroutine fsyncs every SyncEvery: a process crash loses nothing, a power
// loss at most that window. A new segment's dir entry is fsynced before
// records in it are acknowledged, and a sealed segment is fsynced before
// the next one is written.
//
// A write or fsync failure breaks the log for good: the data it was
// writing may or may not be on disk (and after a failed fsync the page
// cache cannot be trusted), so its waiters get the error, as do later
// Appends and Close. The package does no network I/O and keeps no global
// state.
package wal
