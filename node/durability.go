package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hoard-dev/hoard/internal/flush"
	"github.com/hoard-dev/hoard/internal/journal"
	"github.com/hoard-dev/hoard/sinks"
)

// walRoot is where the write-ahead logs live, one directory per origin.
func (n *Node) walRoot() string { return filepath.Join(n.cfg.DataDir, "wal") }

// openJournal makes the data directory, names this incarnation (a new
// origin at each start) and opens the log if a store acks by it.
func (n *Node) openJournal() error {
	if err := os.MkdirAll(n.cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	origin, err := journal.NextOrigin(n.cfg.DataDir, n.cfg.Name)
	if err != nil {
		return err
	}
	n.origin = origin
	for _, sc := range n.cfg.Stores {
		if sc.withDefaults().Ack == AckMemory || sc.Kind == KindCache {
			continue
		}
		sync := n.cfg.WALSync
		if sync == WALSyncAlways {
			sync = 0
		}
		if n.journal, err = journal.Open(journal.Config{Root: n.walRoot(), Origin: origin, SyncEvery: sync, Logger: n.logger.Named("wal")}); err != nil {
			return err
		}
		return flush.SyncDir(n.cfg.DataDir) // the new wal directory's entry

	}
	return nil
}

// batchID is the ID of a batch of this incarnation's ops.
func (n *Node) batchID(store string, ranges []sinks.Range) string {
	return journal.BatchID(n.origin, store, ranges)
}

// recoverLogs delivers, before the node serves, what the logs of earlier
// incarnations hold and their sinks have not applied (journal.Recover).
func (n *Node) recoverLogs(ctx context.Context) {
	journal.Recover(ctx, n.walRoot(), n.origin, n.cfg.Name, n.dlq, n.replayerOf, n.logger.Named("wal"))
}

// replayerOf is how the store called name delivers ops read back from a
// log; false if there is no such counter or buffer store.
func (n *Node) replayerOf(name string) (journal.Replayer, bool) {
	s, ok := n.stores[name]
	if !ok || s.pipe == nil {
		return journal.Replayer{}, false
	}
	return s.replayer(), true
}

// closeJournal closes the log after the final flush; a log whose ops all
// left memory is removed, so the next start has nothing to replay.
func (n *Node) closeJournal() error {
	if n.journal == nil {
		return nil
	}
	err := n.journal.Close()
	if err == nil && n.exposed.Load() == 0 {
		err = journal.Discard(n.walRoot(), n.origin)
	}
	return err
}

// walBytes is the size of this incarnation's write-ahead log.
func (n *Node) walBytes() int64 {
	if n.journal == nil {
		return 0
	}
	return n.journal.Size()
}
