package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/hoard-dev/hoard/internal/journal"
	"github.com/hoard-dev/hoard/sinks"
)

// walRoot is where the write-ahead logs live, one directory per origin.
func (n *Node) walRoot() string { return filepath.Join(n.cfg.DataDir, "wal") }

// openJournal names this incarnation (a new origin at each start) and, if
// a store acknowledges writes by the write-ahead log, opens its log.
func (n *Node) openJournal() error {
	origin, err := journal.NextOrigin(n.cfg.DataDir, n.cfg.Name)
	if err != nil {
		return err
	}
	n.origin = origin
	for _, sc := range n.cfg.Stores {
		if sc.Ack != AckWAL {
			continue
		}
		sync := n.cfg.WALSync
		if sync == WALSyncAlways {
			sync = 0
		}
		n.journal, err = journal.Open(journal.Config{Root: n.walRoot(), Origin: origin, SyncEvery: sync, Logger: n.logger.Named("wal")})
		return err
	}
	return nil
}

// batchID is the ID of a batch of this incarnation's ops.
func (n *Node) batchID(store string, ranges []sinks.Range) string {
	return journal.BatchID(n.origin, store, ranges)
}

// recoverLogs delivers what the logs of earlier incarnations hold and
// their sinks have not applied, under the origin that logged it, whatever
// partitions this node owns now; a log is removed once all it held is
// delivered or dead-lettered. A torn tail (a record cut by the crash,
// never acknowledged) is cut off and reported. A log that cannot be
// replayed now stays for the next start.
func (n *Node) recoverLogs(ctx context.Context) {
	origins, err := journal.Origins(n.walRoot(), n.origin)
	if err != nil {
		n.logger.Error("cannot list the write-ahead logs of earlier starts", "error", err)
		return
	}
	for _, origin := range origins {
		ops, torn, err := journal.ReadOrigin(n.walRoot(), origin)
		for _, t := range torn {
			n.logger.Warn("torn write-ahead log record cut off: it was never acknowledged", "origin", origin, "segment", t.Segment, "offset", t.Offset, "reason", t.Reason)
		}
		if err != nil {
			n.logger.Error("cannot read a write-ahead log; it stays for the next start", "origin", origin, "error", err)
			continue
		}
		byStore := map[string][]journal.Recorded{}
		for _, r := range ops {
			byStore[r.Store] = append(byStore[r.Store], r)
		}
		done := true
		for name, recs := range byStore {
			if err := n.replayStore(ctx, origin, name, recs); err != nil {
				n.logger.Error("cannot replay a write-ahead log; it stays for the next start", "origin", origin, "store", name, "error", err)
				done = false
			}
		}
		if done {
			if err := journal.Discard(n.walRoot(), origin); err != nil {
				n.logger.Warn("cannot remove a replayed write-ahead log", "origin", origin, "error", err)
			}
		}
	}
}

// replayStore delivers one store's recorded ops of origin that its sink
// has not applied. A sink that records positions is asked what it applied
// (retried like a flush); any other sink gets every op again, at least
// once, under the same batch ID as any earlier replay of the same ops.
func (n *Node) replayStore(ctx context.Context, origin, name string, recs []journal.Recorded) error {
	s, ok := n.stores[name]
	if !ok || s.pipe == nil {
		return fmt.Errorf("store %q is not declared (or not a counter or buffer) any more", name)
	}
	var applied map[int][]sinks.Range
	if pos, ok := s.cfg.Sink.(sinks.Positioner); ok {
		var err error
		for attempt := 1; ; attempt++ {
			if applied, err = pos.Applied(ctx, name, origin); err == nil {
				break
			}
			if attempt >= s.cfg.RetryMax || ctx.Err() != nil {
				return fmt.Errorf("asking the sink what it applied: %w", err)
			}
			select {
			case <-time.After(s.cfg.RetryDelay):
			case <-ctx.Done():
			}
		}
	}
	b, ops, ok := journal.Rebuild(origin, name, recs, applied)
	if !ok {
		return nil
	}
	b.Node = n.cfg.Name
	err := s.pipe.Deliver(ctx, b)
	switch {
	case err == nil:
		n.logger.Info("replayed the write-ahead log of an earlier start", "origin", origin, "store", name, "ops", ops, "keys", b.Len())
	case errors.Is(err, ErrDeadLettered):
		n.logger.Error("write-ahead log replay dead-lettered", "origin", origin, "store", name, "ops", ops, "batch", b.ID)
	default:
		return err
	}
	return nil
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
