package journal

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

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

// incarnation is an origin's incarnation number ("name.N.ID"), 0 if none.
func incarnation(origin string) uint64 {
	f := strings.Split(origin, ".")
	if len(f) < 3 {
		return 0
	}
	n, _ := strconv.ParseUint(f[len(f)-2], 10, 64)
	return n
}

// ReadOrigin reads every op of origin's log under root, in the order they
// were written. A torn tail is cut off the log and reported, never
// replayed.
func ReadOrigin(root, origin string) ([]Recorded, []wal.Torn, error) {
	var out []Recorded
	torn, err := wal.Read(filepath.Join(root, origin), func(segment uint64, rec []byte) error {
		r, err := decodeRecord(rec)
		if err != nil {
			return fmt.Errorf("segment %d: %w", segment, err)
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return out, torn, fmt.Errorf("journal: %s: %w", origin, err)
	}
	return out, torn, nil
}

// Discard removes origin's log under root: everything it held has been
// delivered or dead-lettered.
func Discard(root, origin string) error {
	if err := os.RemoveAll(filepath.Join(root, origin)); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return flush.SyncDir(root)
}

// Rebuild makes one batch of store from the recorded ops of origin
// (all of that store) that applied does not cover: counter deltas summed
// per key, buffer values per key in sequence order. Its ranges are the runs
// of the ops it holds, and its ID their BatchID. It returns the number of
// ops it holds, and false when nothing is left to deliver.
func Rebuild(origin, store string, ops []Recorded, applied map[int][]sinks.Range) (sinks.Batch, int64, bool) {
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
			b.Counts[i].Count += r.Delta
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
		return sinks.Batch{}, 0, false
	}
	b.ID = BatchID(origin, store, b.Ranges)
	return b, n, true
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
	// (flush.Pipeline.Deliver): nil, or an error wrapping
	// flush.ErrDeadLettered, means the batch is taken care of.
	Deliver func(ctx context.Context, b sinks.Batch) error
}

// Recover delivers what the logs under root of earlier incarnations (all
// but current) hold and their sinks have not applied, under the origin
// that logged it, and removes a log once all it held is delivered or
// dead-lettered. A torn tail (a record cut by a crash, never acknowledged)
// is cut off and reported. A log that cannot be replayed now (its sink
// cannot say what it applied, a store is not declared any more) stays for
// the next start. store returns a store's Replayer, false if it has none;
// node names the delivering node on the batches.
func Recover(ctx context.Context, root, current, node string, store func(name string) (Replayer, bool), logger hclog.Logger) {
	origins, err := Origins(root, current)
	if err != nil {
		logger.Error("cannot list the write-ahead logs of earlier starts", "error", err)
		return
	}
	for _, origin := range origins {
		ops, torn, err := ReadOrigin(root, origin)
		for _, t := range torn {
			logger.Warn("torn write-ahead log record cut off: it was never acknowledged", "origin", origin, "segment", t.Segment, "offset", t.Offset, "reason", t.Reason)
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
			rp, ok := store(name)
			if !ok {
				logger.Error("a write-ahead log holds ops of a store that is not declared (or not a counter or buffer) any more; it stays for the next start", "origin", origin, "store", name)
				done = false
				continue
			}
			if err := replay(ctx, origin, name, node, recs, rp, logger); err != nil {
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

// replay delivers one store's recorded ops of origin that its sink has
// not applied. A sink that records positions is asked what it applied
// (retried like a flush); any other sink gets every op again, at least
// once, under the same batch ID as any earlier replay of the same ops.
func replay(ctx context.Context, origin, store, node string, recs []Recorded, rp Replayer, logger hclog.Logger) error {
	var applied map[int][]sinks.Range
	if pos, ok := rp.Sink.(sinks.Positioner); ok {
		var err error
		for attempt := 1; ; attempt++ {
			if applied, err = pos.Applied(ctx, store, origin); err == nil {
				break
			}
			if attempt >= rp.RetryMax || ctx.Err() != nil {
				return fmt.Errorf("asking the sink what it applied: %w", err)
			}
			t := time.NewTimer(rp.RetryDelay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
	}
	b, ops, ok := Rebuild(origin, store, recs, applied)
	if !ok {
		return nil
	}
	b.Node = node
	err := rp.Deliver(ctx, b)
	switch {
	case err == nil:
		logger.Info("replayed the write-ahead log of an earlier start", "origin", origin, "store", store, "ops", ops, "keys", b.Len())
	case errors.Is(err, flush.ErrDeadLettered):
		logger.Error("write-ahead log replay dead-lettered", "origin", origin, "store", store, "ops", ops, "batch", b.ID)
	default:
		return err
	}
	return nil
}
