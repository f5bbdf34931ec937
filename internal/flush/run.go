package flush

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Run flushes until ctx ends: each round waits for a timer of next() (drawn
// again every round) or for kick (nil: the timer only), then calls
// Flush(ctx, mode(), nil) (nil mode: Due) and logs its error unless ctx
// ended. next must not be nil. Run returns once ctx ends; a flush in
// progress then gives way, keeping its batches for the next flush.
func (p *Pipeline) Run(ctx context.Context, next func() time.Duration, kick <-chan struct{}, mode func() Mode) {
	Every(ctx, next, kick, func() {
		m := Due
		if mode != nil {
			m = mode()
		}
		if _, err := p.Flush(ctx, m, nil); err != nil && ctx.Err() == nil {
			p.logger.Error("flush failed", "error", err)
		}
	})
}

// Every calls round after each wait of next() (drawn again every round) or
// at kick (nil: the timer only), until ctx ends: the loop of every
// periodic job of a node.
func Every(ctx context.Context, next func() time.Duration, kick <-chan struct{}, round func()) {
	t := time.NewTimer(next())
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-kick:
		case <-ctx.Done():
			return
		}
		round()
		t.Reset(next())
	}
}

// Interval returns interval plus up to jitter, at random, so that nodes do
// not hit the sink together: a next func for Run. jitter <= 0 adds nothing.
func Interval(interval, jitter time.Duration) time.Duration {
	if jitter <= 0 {
		return interval
	}
	return interval + rand.N(jitter)
}

// Jitter returns d plus or minus up to 20%, at random.
func Jitter(d time.Duration) time.Duration {
	q := int64(d / 5)
	if q <= 0 {
		return d
	}
	return d - time.Duration(q) + time.Duration(rand.Int64N(2*q+1))
}

// Lose hands off the partitions this node lost, unless first (the node's
// first ring: it never owned them): it flushes what the source holds for
// them at once, on a goroutine of Config.Go, giving way when
// Config.Stopping ends. Their new owners start empty, and the sink receives
// both sides' data (counter deltas and buffer appends merge).
//
// The flush leaves out the partitions this node owns again when it runs
// (Config.Owns): rings that change twice in a row, as when a node joins
// through two seeds, can give a partition back before the first change's
// hand-off has run, and what was written to it since is its owner's to
// hold, not to flush early.
func (p *Pipeline) Lose(partitions []int, first bool) {
	if first {
		return
	}
	p.handOff(partitions, p.cfg.Owns)
}

// HandOff flushes what the source holds for partitions at once, as Lose
// does, but for partitions this node keeps (the durability keeper's, whose
// backups changed): it leaves out none.
func (p *Pipeline) HandOff(partitions []int) { p.handOff(partitions, nil) }

// handOff flushes partitions, less those owned reports (nil: none), on a
// goroutine of Config.Go.
func (p *Pipeline) handOff(partitions []int, owned func(int) bool) {
	ctx, goFunc := p.cfg.Stopping, p.cfg.Go
	if ctx == nil {
		ctx = context.Background()
	}
	if goFunc == nil {
		goFunc = func(f func()) bool { go f(); return true }
	}
	p.handOffs.Add(1)
	if !goFunc(func() {
		defer p.handOffs.Add(-1)
		if owned != nil {
			partitions = slices.DeleteFunc(slices.Clone(partitions), owned)
			if len(partitions) == 0 {
				return
			}
		}
		res, err := p.Flush(ctx, All, partitions)
		if err != nil && ctx.Err() == nil {
			p.logger.Error("hand-off flush failed", "partitions", len(partitions), "error", err)
		} else if res.Keys > 0 {
			p.logger.Info("flushed partitions handed off", "partitions", len(partitions), "keys", res.Keys)
		}
	}) {
		p.handOffs.Add(-1) // not run: the node is stopping
	}
}

// HandingOff reports whether a hand-off flush (Lose, HandOff) has been
// started and has not finished: the store may still move what it holds
// for partitions of an earlier ring to the sink.
func (p *Pipeline) HandingOff() bool { return p.handOffs.Load() > 0 }

// Close is the last flush when the node stops, a store engine's last work:
// everything, then the source refuses writes; what cannot be delivered
// within ctx is dead-lettered.
func (p *Pipeline) Close(ctx context.Context) error {
	res, err := p.Flush(ctx, Final, nil)
	if res.Keys > 0 || res.DeadLettered > 0 {
		p.logger.Info("final flush", "keys", res.Keys, "batches", res.Batches, "dead_lettered", res.DeadLettered)
	}
	if err != nil {
		return fmt.Errorf("final flush of %s: %w", p.cfg.Store, err)
	}
	return nil
}
