package replica

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/internal/journal"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/sinks"
)

// HolderConfig configures a Holder.
type HolderConfig struct {
	// Root holds one log per origin whose ops this incarnation of the node
	// holds (<data_dir>/replicas/<this node's origin>).
	Root string
	// SyncEvery is the logs' fsync policy (journal.Config.SyncEvery).
	SyncEvery time.Duration
	// Logger receives the holder's logs; nil discards them.
	Logger hclog.Logger
}

// Holder is the backup side of replication: the ops other nodes (their
// origins) sent this node, held in memory and in a log per origin until
// their owner says its sink has them (Trim), or until the owner fails and
// this node delivers them (Take). Safe for concurrent use.
type Holder struct {
	cfg HolderConfig

	// mu guards origins, taken, closed and scratch.
	mu      sync.Mutex
	origins map[string]*held
	taken   map[string]*journal.Journal // logs of ops taken for delivery, until released
	closed  bool
	scratch []heldPos // Hold's, reused from one frame to the next

	ops atomic.Int64 // ops held
}

// held is what the Holder holds of one origin.
type held struct {
	log    *journal.Journal      // nil until the first op
	stores map[string]*storeHeld // by name
	ops    int64
	heard  time.Time // when the origin's first frame came
}

// heldOf returns what the holder holds of origin, made if missing. Under
// h.mu.
func (h *Holder) heldOf(origin string) *held {
	o := h.origins[origin]
	if o == nil {
		o = &held{stores: map[string]*storeHeld{}, heard: time.Now()}
		h.origins[origin] = o
	}
	return o
}

// storeHeld is what the Holder holds of one store of an origin.
type storeHeld struct {
	name  string
	parts map[int]*partHeld
}

// part returns partition p of store, made if missing, and the store's
// name (store's bytes are not kept).
func (o *held) part(store []byte, p int) (string, *partHeld) {
	sh := o.stores[string(store)]
	if sh == nil {
		sh = &storeHeld{name: string(store), parts: map[int]*partHeld{}}
		o.stores[sh.name] = sh
	}
	ph := sh.parts[p]
	if ph == nil {
		ph = &partHeld{}
		sh.parts[p] = ph
	}
	return sh.name, ph
}

// partHeld is one partition's ops, in sequence order, as the owner encoded
// them: decoded only if they are delivered.
type partHeld struct {
	recs    []heldRec
	trimmed uint64 // the owner's sink has every op up to it: such an op is not taken again
	last    uint64 // the highest seq held so far: a later op is new without a look at recs
}

// known reports whether the op numbered seq is trimmed or held already
// (sent again after a failed frame, maybe after later ones).
func (ph *partHeld) known(seq uint64) bool {
	if seq <= ph.trimmed {
		return true
	}
	if seq > ph.last {
		return false
	}
	_, found := ph.search(seq)
	return found
}

// hold adds r, not known, in sequence order.
func (ph *partHeld) hold(r heldRec) {
	if r.seq > ph.last {
		ph.recs = append(ph.recs, r)
		ph.last = r.seq
		return
	}
	i, _ := ph.search(r.seq)
	ph.recs = slices.Insert(ph.recs, i, r)
}

// search finds seq among the ops held.
func (ph *partHeld) search(seq uint64) (int, bool) {
	return slices.BinarySearchFunc(ph.recs, seq, func(rec heldRec, seq uint64) int { return cmp.Compare(rec.seq, seq) })
}

// trim drops the ops up to through and returns how many it dropped.
func (ph *partHeld) trim(through uint64) int {
	n, _ := ph.search(through + 1)
	ph.recs = slices.Delete(ph.recs, 0, n)
	ph.trimmed = max(ph.trimmed, through)
	return n
}

// heldPos is a record of a frame being held, with its partition.
type heldPos struct {
	rec   []byte
	name  string
	ph    *partHeld
	p     int
	seq   uint64
	fresh bool // neither held already nor trimmed
}

type heldRec struct {
	seq uint64
	raw []byte
}

// NewHolder returns an empty holder; it makes Root when it first holds an
// op.
func NewHolder(cfg HolderConfig) *Holder {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	return &Holder{cfg: cfg, origins: map[string]*held{}, taken: map[string]*journal.Journal{}}
}

// Hold takes a frame of origin's ops (AppendFrame) and calls done once all
// are in the origin's log (or could not be written), on the log's writer
// goroutine or at once. An op already held or trimmed (an owner sending
// again after a failed frame) is skipped. Errors: a malformed frame or
// record (nothing held), the log's error, or the holder is closed. The
// holder keeps frame.
func (h *Holder) Hold(origin string, frame []byte, done func(error)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		done(fmt.Errorf("replica: holder closed"))
		return
	}
	o := h.heldOf(origin)
	// The frame's records, parsed into the holder's scratch slice (under
	// its lock): a frame carries thousands of ops under load.
	at := h.scratch[:0]
	defer func() {
		clear(at) // its records alias the frame
		h.scratch = at[:0]
	}()
	last := -1 // the last op to log: its record's callback is done's
	for rest := frame; len(rest) > 0; {
		rec, next, err := nextRecord(rest)
		var x heldPos
		if err == nil {
			var store []byte
			store, x.p, x.seq, err = journal.PeekRecord(rec)
			x.rec = rec
			if err == nil {
				x.name, x.ph = o.part(store, x.p)
			}
		}
		if err != nil {
			done(fmt.Errorf("replica: op %d from %s: %w", len(at), origin, err))
			return
		}
		if x.fresh = !x.ph.known(x.seq); x.fresh {
			last = len(at)
		}
		at = append(at, x)
		rest = next
	}
	if last < 0 {
		done(nil)
		return
	}
	if o.log == nil {
		l, err := journal.Open(journal.Config{Root: h.cfg.Root, Origin: origin, SyncEvery: h.cfg.SyncEvery, Logger: h.cfg.Logger})
		if err != nil {
			done(fmt.Errorf("replica: %w", err))
			return
		}
		o.log = l
	}
	// The log writes records in order, and a failed write fails every later
	// one: the last record's outcome is the frame's.
	for i, x := range at[:last+1] {
		if !x.fresh {
			continue
		}
		var logged op.Done
		if i == last {
			logged = op.DoneFunc(done)
		}
		if err := o.log.AppendEncoded(x.rec, x.name, x.p, x.seq, logged); err != nil {
			done(fmt.Errorf("replica: %w", err))
			return
		}
		x.ph.hold(heldRec{x.seq, x.rec})
		o.ops++
		h.ops.Add(1)
	}
}

// AppendFrame appends rec, a record of journal.AppendRecord, to a frame of
// records for Holder.Hold.
func AppendFrame(frame, rec []byte) []byte {
	return append(binary.AppendUvarint(frame, uint64(len(rec))), rec...)
}

// nextRecord splits a frame's first record off.
func nextRecord(frame []byte) (rec, rest []byte, err error) {
	n, k := binary.Uvarint(frame)
	if k <= 0 || n > uint64(len(frame)-k) {
		return nil, nil, errors.New("malformed frame")
	}
	end := k + int(n)
	return frame[k:end:end], frame[end:], nil
}

// Trim drops the ops of origin's store up to each range's Last, in its
// partition: the owner's sink has them, or its dead-letter. A trim ahead
// of the ops it covers (they were flushed before they reached this node)
// makes the holder skip them when they come.
func (h *Holder) Trim(origin, store string, ranges []sinks.Range) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	o := h.heldOf(origin)
	for _, r := range ranges {
		_, ph := o.part([]byte(store), r.Partition)
		n := ph.trim(r.Last)
		o.ops -= int64(n)
		h.ops.Add(-int64(n))
	}
	if o.log != nil {
		// The log notes the trims, so that a restart does not deliver
		// again what the owner's sink has; then drops what it can.
		for _, r := range ranges {
			if err := o.log.AppendEncoded(journal.AppendTrim(nil, store, r.Partition, r.Last), store, r.Partition, r.Last, nil); err != nil {
				h.cfg.Logger.Warn("cannot note a trim in the replica log; a restart may deliver its ops again", "origin", origin, "error", err)
			}
		}
		o.log.Settled(store, ranges)
	}
}

// Origins lists the origins whose ops the holder holds (or has held).
func (h *Holder) Origins() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.origins))
	for o := range h.origins {
		out = append(out, o)
	}
	slices.Sort(out)
	return out
}

// Take returns the ops held of origin, by store, and forgets them, but for
// their log, which Release removes once they are delivered (Close keeps it
// for the next start if they were not). The holder takes ops of origin
// afterwards (a node declared failed that was not) into a new log once
// that one is released. Take returns false if it holds no ops of origin and
// no log of them.
func (h *Holder) Take(origin string) (map[string][]journal.Recorded, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	o := h.origins[origin]
	if o == nil || (o.ops == 0 && o.log == nil) {
		return nil, false
	}
	out := map[string][]journal.Recorded{}
	for store, sh := range o.stores {
		for _, ph := range sh.parts {
			for _, hr := range ph.recs {
				r, err := journal.DecodeRecord(hr.raw)
				if err != nil { // checked by Hold's PeekRecord, not in full
					h.cfg.Logger.Error("malformed replicated op dropped: its owner sent it corrupt", "origin", origin, "store", store, "seq", hr.seq, "error", err)
					continue
				}
				out[store] = append(out[store], r)
			}
			ph.recs = nil
		}
	}
	h.ops.Add(-o.ops)
	o.ops = 0
	if o.log != nil {
		h.taken[origin] = o.log
		o.log = nil
	}
	return out, true
}

// Release closes and removes the log of origin's ops that Take took, once
// they are delivered or dead-lettered.
func (h *Holder) Release(origin string) error {
	h.mu.Lock()
	l := h.taken[origin]
	delete(h.taken, origin)
	h.mu.Unlock()
	if l == nil {
		return nil
	}
	if err := l.Close(); err != nil {
		return err
	}
	return journal.Discard(h.cfg.Root, origin)
}

// Drop forgets origin's ops and removes their log: their owner left
// gracefully, having flushed them itself.
func (h *Holder) Drop(origin string) error {
	h.Take(origin)
	h.mu.Lock()
	delete(h.origins, origin)
	h.mu.Unlock()
	return h.Release(origin)
}

// Ops counts the ops held.
func (h *Holder) Ops() int64 { return h.ops.Load() }

// Close closes the logs. Those of origins in keep that hold ops stay on
// disk, to be delivered at the node's next start; the others are removed
// (their owners live and flush their ops themselves). Idempotent.
func (h *Holder) Close(keep func(origin string) bool) error {
	h.mu.Lock()
	origins, taken := h.origins, h.taken
	h.origins, h.taken = map[string]*held{}, map[string]*journal.Journal{}
	h.closed = true
	h.mu.Unlock()
	var errs []error
	for _, l := range taken { // not delivered: kept for the next start
		if err := l.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	for name, o := range origins {
		if o.log == nil {
			continue
		}
		if err := o.log.Close(); err != nil {
			errs = append(errs, err)
			continue
		}
		if o.ops == 0 || !keep(name) {
			if err := journal.Discard(h.cfg.Root, name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) == 0 {
		// An empty root is not kept for the next start to look at.
		_ = os.Remove(h.cfg.Root)
	}
	if len(errs) > 0 {
		return fmt.Errorf("replica: %w", errs[0])
	}
	return nil
}

// Recover delivers, through deliver, the ops the earlier incarnations of
// this node held for others (the logs under dir other than current, each
// a Root of its time), and removes what was delivered; what could not be
// stays for the next start.
func Recover(ctx context.Context, dir, current string, recoverRoot func(ctx context.Context, root string)) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || e.Name() == current {
			continue
		}
		root := filepath.Join(dir, e.Name())
		recoverRoot(ctx, root)
		_ = os.Remove(root) // only if every log in it was delivered
	}
}

// FirstHeard is when the first frame of origin (ops or trims) reached the
// holder: its node was alive then. Zero if none did, or since Drop.
func (h *Holder) FirstHeard(origin string) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	if o := h.origins[origin]; o != nil {
		return o.heard
	}
	return time.Time{}
}

// Held counts the ops held of origin.
func (h *Holder) Held(origin string) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if o := h.origins[origin]; o != nil {
		return o.ops
	}
	return 0
}
