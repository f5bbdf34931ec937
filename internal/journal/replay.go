package journal

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/internal/counter"
	"github.com/hoard-dev/hoard/internal/disk"
	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/flush"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/internal/wal"
	"github.com/hoard-dev/hoard/sinks"
)

// Origins lists the logs under root other than current's, oldest
// incarnation first: the logs of earlier starts, whose ops may not have
// reached their sinks.
func Origins(root, current string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != current && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	slices.SortFunc(out, func(a, b string) int { return cmp.Compare(incarnation(a), incarnation(b)) })
	return out, nil
}

// ReadOrigin reads every op of origin's log under root, in the order they
// were written, but for those a trim record (a backup's) says were
// delivered. A torn tail is cut off the log and reported, never
// replayed.
func ReadOrigin(root, origin string) ([]Recorded, []wal.Torn, error) {
	var out []Recorded
	torn, err := wal.Read(filepath.Join(root, origin), func(segment uint64, rec []byte) error {
		r, err := DecodeRecord(rec)
		if err != nil {
			return fmt.Errorf("segment %d: %w", segment, err)
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return out, torn, fmt.Errorf("journal: %s: %w", origin, err)
	}
	return untrimmed(out), torn, nil
}

// untrimmed drops the trims (KindTrim) from recs, with the ops they cover.
func untrimmed(recs []Recorded) []Recorded {
	type part struct {
		store     string
		partition int
	}
	through := map[part]uint64{}
	for _, r := range recs {
		if k := (part{r.Store, r.Partition}); r.Kind == KindTrim && r.Seq > through[k] {
			through[k] = r.Seq
		}
	}
	if len(through) == 0 {
		return recs
	}
	kept := recs[:0]
	for _, r := range recs {
		if r.Kind != KindTrim && r.Seq > through[part{r.Store, r.Partition}] {
			kept = append(kept, r)
		}
	}
	return kept
}

// Discard removes origin's log under root: everything it held has been
// delivered or dead-lettered.
func Discard(root, origin string) error {
	if err := os.RemoveAll(filepath.Join(root, origin)); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return disk.SyncDir(root)
}

// Rebuild makes one batch of store from the recorded ops of origin
// (all of that store) that applied does not cover: counter deltas summed
// per key, buffer values per key in sequence order. Its ranges are the runs
// of the ops it holds, and its ID their BatchID. It returns the number of
// ops it holds, and false when nothing is left to deliver. A sum that would
// overflow int64 is an error wrapping errs.ErrOverflow (never a wrap).
func Rebuild(origin, store string, ops []Recorded, applied map[int][]sinks.Range) (sinks.Batch, int64, bool, error) {
	slices.SortStableFunc(ops, func(a, b Recorded) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Seq, b.Seq))
	})
	b := sinks.Batch{Store: store, Origin: origin, Time: time.Now()}
	type key struct {
		partition int
		key       string
	}
	counts := map[key]int{} // index in b.Counts
	values := map[key]int{} // index in b.Values
	var n int64
	for _, r := range ops {
		if covered(applied[r.Partition], r.Seq) {
			continue
		}
		n++
		if last := len(b.Ranges) - 1; last >= 0 && b.Ranges[last].Partition == r.Partition && b.Ranges[last].Last+1 == r.Seq {
			b.Ranges[last].Last = r.Seq
		} else {
			b.Ranges = append(b.Ranges, sinks.Range{Partition: r.Partition, First: r.Seq, Last: r.Seq})
		}
		k := key{r.Partition, r.Key}
		switch r.Kind {
		case op.Incr:
			b.Kind = sinks.KindCounter
			i, ok := counts[k]
			if !ok {
				i = len(b.Counts)
				counts[k] = i
				b.Counts = append(b.Counts, sinks.Count{Key: r.Key, Partition: r.Partition})
			}
			sum, ok := counter.AddInt64(b.Counts[i].Count, r.Delta)
			if !ok {
				return sinks.Batch{}, 0, false, fmt.Errorf("%w: the recorded increments of %q in %s sum past int64", errs.ErrOverflow, r.Key, origin)
			}
			b.Counts[i].Count = sum
		case op.Insert:
			b.Kind = sinks.KindBuffer
			i, ok := values[k]
			if !ok {
				i = len(b.Values)
				values[k] = i
				b.Values = append(b.Values, sinks.Values{Key: r.Key, Partition: r.Partition})
			}
			b.Values[i].Values = append(b.Values[i].Values, r.Values...)
		}
	}
	if n == 0 {
		return sinks.Batch{}, 0, false, nil
	}
	b.ID = BatchID(origin, store, b.Ranges)
	return b, n, true, nil
}

// covered reports whether seq lies in one of ranges.
func covered(ranges []sinks.Range, seq uint64) bool {
	for _, r := range ranges {
		if r.First <= seq && seq <= r.Last {
			return true
		}
	}
	return false
}

// Replayer is what Recover needs of a store to deliver its recorded ops.
type Replayer struct {
	// Sink is asked what it applied, if it is a sinks.Positioner.
	Sink sinks.Sink
	// RetryMax and RetryDelay bound the asking.
	RetryMax   int
	RetryDelay time.Duration
	// Deliver hands a rebuilt batch to the sink with the store's retries
	// (flush.Pipeline.Deliver), rebuilding it again if the sink says
	// another delivery applied part of it: nil, or an error wrapping
	// flush.ErrDeadLettered, means the batch is taken care of.
	Deliver func(ctx context.Context, b sinks.Batch, rebuild flush.Rebuild) error
}

// Recover delivers what the logs under root of earlier incarnations (all
// but current) hold and their sinks have not applied, under the origin
// that logged it, and removes a log once all it held is delivered or
// dead-lettered. Ops already in the dead-letter (dl) are left to it, never
// sent again, so that a dead-letter replayed later finds its ranges as it
// left them. The ops of a store that is no longer declared (store returns
// false) go to the dead-letter, where `hoard dlq` shows them. A torn tail
// (a record a crash cut short) is cut off and reported; a damaged sealed
// segment is reported and kept. A log that cannot be replayed now (its
// sink cannot say what it applied) stays for the next start. node names
// the delivering node on the batches.
func Recover(ctx context.Context, root, current, node string, dl *flush.DeadLetters, store func(name string) (Replayer, bool), logger hclog.Logger) {
	origins, err := Origins(root, current)
	if err != nil {
		logger.Error("cannot list the write-ahead logs of earlier starts", "error", err)
		return
	}
	for _, origin := range origins {
		ops, torn, err := ReadOrigin(root, origin)
		for _, t := range torn {
			if t.Sealed {
				logger.Error("write-ahead log segment is corrupt (not a torn tail); it is kept as it is and its records after the damage are not replayed",
					"origin", origin, "segment", t.Segment, "offset", t.Offset, "reason", t.Reason)
				continue
			}
			logger.Warn("torn write-ahead log record cut off: a record the crash cut short (with wal_fsync = \"always\" it was never acknowledged)",
				"origin", origin, "segment", t.Segment, "offset", t.Offset, "reason", t.Reason)
		}
		if err != nil {
			logger.Error("cannot read a write-ahead log; it stays for the next start", "origin", origin, "error", err)
			continue
		}
		byStore := map[string][]Recorded{}
		for _, r := range ops {
			byStore[r.Store] = append(byStore[r.Store], r)
		}
		done := true
		for name, recs := range byStore {
			if err := recoverStore(ctx, origin, name, node, recs, dl, store, logger); err != nil {
				logger.Error("cannot replay a write-ahead log; it stays for the next start", "origin", origin, "store", name, "error", err)
				done = false
			}
		}
		if done {
			if err := Discard(root, origin); err != nil {
				logger.Warn("cannot remove a replayed write-ahead log", "origin", origin, "error", err)
			}
		}
	}
}

// recoverStore delivers one store's recorded ops of origin that are
// neither applied by its sink nor in the dead-letter.
func recoverStore(ctx context.Context, origin, name, node string, recs []Recorded, dl *flush.DeadLetters, store func(string) (Replayer, bool), logger hclog.Logger) error {
	rp, declared := store(name)
	if !declared {
		covered, err := deadLettered(dl, name, origin)
		if err != nil {
			return err
		}
		b, ops, ok, err := Rebuild(origin, name, recs, covered)
		if err != nil || !ok {
			return err
		}
		b.Node = node
		if err := dl.Write(b, errors.New("the store is not declared (or not a counter or buffer) on the node that replayed its write-ahead log"), 0); err != nil {
			return err
		}
		logger.Error("write-ahead log ops of a store that is not declared any more went to the dead-letter", "origin", origin, "store", name, "ops", ops, "batch", b.ID)
		return nil
	}
	ops, b, err := Deliver(ctx, origin, name, node, recs, dl, rp)
	switch {
	case err == nil && ops > 0:
		logger.Info("replayed the write-ahead log of an earlier start", "origin", origin, "store", name, "ops", ops, "keys", b.Len())
	case errors.Is(err, flush.ErrDeadLettered):
		logger.Error("write-ahead log replay dead-lettered", "origin", origin, "store", name, "ops", ops, "batch", b.ID)
	case err != nil:
		return err
	}
	return nil
}

// Deliver hands rp's sink the ops of origin's store among recs that it has
// not applied and that do not wait in the dead-letter (dl), as one batch
// under origin, delivered by node: a write-ahead log replayed, or a failed
// node's ops held by its backup. If another delivery applies some of them
// meanwhile (sinks.ErrOverlap), the batch is rebuilt without them. It
// returns the ops it delivered (0: none was left) and the batch. The error
// wraps flush.ErrDeadLettered when the batch went to the dead-letter; any
// other error means the ops are neither delivered nor on disk.
func Deliver(ctx context.Context, origin, store, node string, recs []Recorded, dl *flush.DeadLetters, rp Replayer) (int64, sinks.Batch, error) {
	var ops int64
	rebuild := func(ctx context.Context, _ sinks.Batch) (sinks.Batch, bool, error) {
		b, n, ok, err := rebuildUnapplied(ctx, origin, store, node, recs, dl, rp)
		ops = n
		return b, ok, err
	}
	b, ok, err := rebuild(ctx, sinks.Batch{})
	if err != nil || !ok {
		return 0, b, err
	}
	err = rp.Deliver(ctx, b, rebuild)
	return ops, b, err
}

// Rebuilder is the flush.Rebuild of the batches of this journal's ops
// (origin's, delivered by node): it reads a refused batch's ops back from
// the log and rebuilds it without those rp's sink applied or dl holds.
func (j *Journal) Rebuilder(origin, node string, dl *flush.DeadLetters, rp Replayer) flush.Rebuild {
	return func(ctx context.Context, b sinks.Batch) (sinks.Batch, bool, error) {
		recs, err := j.Read(ctx, b.Store, b.Ranges)
		if err != nil {
			return sinks.Batch{}, false, err
		}
		nb, _, ok, err := rebuildUnapplied(ctx, origin, b.Store, node, recs, dl, rp)
		return nb, ok, err
	}
}

// rebuildUnapplied makes the batch of the ops of origin's store among recs
// that rp's sink has not applied and dl does not hold (see Rebuild).
func rebuildUnapplied(ctx context.Context, origin, store, node string, recs []Recorded, dl *flush.DeadLetters, rp Replayer) (sinks.Batch, int64, bool, error) {
	covered, err := deadLettered(dl, store, origin)
	if err != nil {
		return sinks.Batch{}, 0, false, err
	}
	applied, err := askApplied(ctx, origin, store, rp)
	if err != nil {
		return sinks.Batch{}, 0, false, err
	}
	for p, rs := range applied {
		covered[p] = append(covered[p], rs...)
	}
	b, n, ok, err := Rebuild(origin, store, recs, covered)
	b.Node = node
	return b, n, ok, err
}

// deadLettered returns the ranges of origin's ops of store that wait in
// the dead-letter.
func deadLettered(dl *flush.DeadLetters, store, origin string) (map[int][]sinks.Range, error) {
	letters, _, err := dl.List(store)
	if err != nil {
		return nil, fmt.Errorf("reading the dead-letter: %w", err)
	}
	out := map[int][]sinks.Range{}
	for _, l := range letters {
		if l.Batch.Origin != origin {
			continue
		}
		for _, r := range l.Batch.Ranges {
			out[r.Partition] = append(out[r.Partition], r)
		}
	}
	return out, nil
}

// askApplied asks a sink that records positions what it applied of
// origin's ops of store, RetryMax times RetryDelay apart; nil for other sinks, which
// get every op again (at least once, under the same batch ID as any
// earlier replay of the same ops).
func askApplied(ctx context.Context, origin, store string, rp Replayer) (map[int][]sinks.Range, error) {
	pos, ok := rp.Sink.(sinks.Positioner)
	if !ok {
		return nil, nil
	}
	for attempt := 1; ; attempt++ {
		applied, err := pos.Applied(ctx, store, origin)
		if err == nil {
			return applied, nil
		}
		if attempt >= rp.RetryMax || ctx.Err() != nil {
			return nil, fmt.Errorf("asking the sink what it applied: %w", err)
		}
		flush.Sleep(ctx, rp.RetryDelay) // ctx's end ends the next attempt
	}
}
