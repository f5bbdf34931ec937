package flush

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hoard-dev/hoard/internal/disk"
)

// Replay sends the store's dead-lettered batches to the sink again, once
// each (no retry), in Paths order, with their original batch IDs, and
// removes each file only once the sink accepted it. It holds the flush lock
// throughout, so two replays never send the same file twice and no flush
// runs meanwhile.
//
// replayed holds the IDs of the batches the sink accepted; failed holds
// "batch: error" for each one still dead-lettered (a file that cannot be
// read is named by its file name). err is set, and nothing is replayed,
// when the lock cannot be had before ctx ends or the directory cannot be
// read.
func (p *Pipeline) Replay(ctx context.Context) (replayed, failed []string, err error) {
	if p.err != nil {
		return nil, nil, p.err
	}
	if err := p.lock(ctx); err != nil {
		return nil, nil, err
	}
	defer p.unlock()
	paths, err := p.cfg.DeadLetters.Paths(p.cfg.Store)
	if err != nil {
		return nil, nil, err
	}
	for _, path := range paths {
		l, err := p.cfg.DeadLetters.Read(path)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", filepath.Base(path), err))
			continue
		}
		if err := p.callSink(ctx, l.Batch); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", l.Batch.ID, err))
			continue
		}
		if err := os.Remove(path); err != nil {
			// The sink has it; a second replay would send it again with the
			// same batch ID, which deduplicating sinks ignore.
			failed = append(failed, fmt.Sprintf("%s: delivered, but the file stays: %v", l.Batch.ID, err))
			continue
		}
		_ = disk.SyncDir(filepath.Dir(path))
		p.flushes.Add(1)
		p.logger.Info("dead letter replayed", "batch", l.Batch.ID, "keys", l.Batch.Len())
		replayed = append(replayed, l.Batch.ID)
	}
	return replayed, failed, nil
}
