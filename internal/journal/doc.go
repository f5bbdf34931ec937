// Package journal is a node's write-ahead log of ops, on top of
// internal/wal: it encodes each op with its position (store, partition,
// sequence number) within the node's origin (its name and incarnation),
// acknowledges ops once the log has them, drops segments whose ops have
// all left memory, and reads the logs of earlier incarnations back so the
// node can deliver what they hold before it serves.
//
//	origin, _ := journal.NextOrigin(dataDir, "n1") // "n1.8"
//	j, _ := journal.Open(journal.Config{Root: filepath.Join(dataDir, "wal"), Origin: origin})
//	defer j.Close()
//	err := j.Append(&o, partition, seq, op.DoneFunc(func(err error) { /* acknowledge */ }))
//	j.Settled("pageviews", batch.Ranges) // after the sink took them
package journal
