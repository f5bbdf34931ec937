package cache

import (
	"context"
	"math/rand/v2"
	"time"
)

// jitterDivisor bounds how far a chore's run strays from its slot: up to
// a twentieth of its period either way (±5%).
const jitterDivisor = 20

// chore is one periodic job of a cache store's maintenance: the refresh,
// the TTL sweep or the dump. Each runs on its own goroutine and schedule.
type chore struct {
	name  string
	every time.Duration
	run   func(ctx context.Context)
}

// chores lists the store's periodic jobs that are on: a refresh every
// RefreshInterval, a sweep every sweepInterval(TTL), a dump every
// DumpInterval when the store dumps. The sweep is always on: entries set
// with a TTL expire even in a store without one (it then costs an atomic
// load while no entry has an expiry).
func (e *Engine) chores() []chore {
	var cs []chore
	if e.cfg.RefreshInterval > 0 {
		cs = append(cs, chore{name: "refresh", every: e.cfg.RefreshInterval, run: e.refresh})
	}
	cs = append(cs, chore{name: "sweep", every: sweepInterval(e.cfg.TTL), run: func(context.Context) { e.state.Sweep() }})
	if e.cfg.DumpPath != "" && e.cfg.DumpInterval > 0 {
		cs = append(cs, chore{name: "dump", every: e.cfg.DumpInterval, run: e.periodicDump})
	}
	return cs
}

// refresh reloads every entry once (see Store.Refresh).
func (e *Engine) refresh(ctx context.Context) {
	failed, total := e.state.Refresh(ctx, e.load, e.setExtra)
	if failed > 0 && ctx.Err() == nil {
		e.host.Logger.Warn("refresh kept old values for keys whose reload failed", "failed", failed, "keys", total)
	}
}

// periodicDump writes the dump, logging a failure: the next one tries again.
func (e *Engine) periodicDump(context.Context) {
	if err := e.writeDump(); err != nil {
		e.host.Logger.Error("cache dump failed", "error", err)
	}
}

// runChore runs c on its schedule until ctx ends. One run of c at a time:
// a run that ends after the next was due starts that one at once, and
// only that one.
func (e *Engine) runChore(ctx context.Context, c chore) {
	s := newSchedule(time.Now(), c.every, jitter)
	due, _ := s.next(time.Now())
	t := time.NewTimer(time.Until(due))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		c.run(ctx)
		due, late := s.next(time.Now())
		if late && ctx.Err() == nil {
			e.host.Logger.Warn("cache chore took longer than its interval; the next one starts now",
				"chore", c.name, "took", time.Since(start), "interval", c.every)
		}
		t.Reset(time.Until(due))
	}
}

// expirySweepInterval is how often a store without a TTL sweeps the
// entries past their own expiry: it bounds how long they hold memory
// when nobody looks them up.
const expirySweepInterval = time.Second

// sweepInterval is how often expired entries are swept: a quarter of the
// TTL, at least every minute and at most every 10ms; every
// expirySweepInterval without a TTL.
func sweepInterval(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return expirySweepInterval
	}
	return min(max(ttl/4, 10*time.Millisecond), time.Minute)
}

// schedule says when a periodic chore runs next. Its runs are due on a
// grid of slots every period from the start (the first one period in),
// each moved off its slot by a random jitter of up to period/20 either
// way, so that nodes do not all run it at once. Slots are counted from the
// grid, not from when the last run ended: a timer that fires late or a run
// that takes part of the period delays no later run, and no period is
// skipped. A run that ends after its next slot has passed starts the next
// one at once, and the grid starts again from there: runs never pile up.
type schedule struct {
	every  time.Duration
	jitter func(max time.Duration) time.Duration // an offset in [-max, max]
	slot   time.Time                             // of the last run handed out
}

// newSchedule returns the schedule of a chore run every period from start,
// moved by jitter.
func newSchedule(start time.Time, every time.Duration, jitter func(time.Duration) time.Duration) *schedule {
	return &schedule{every: every, jitter: jitter, slot: start}
}

// next returns when the next run is due, given that the last one (or the
// start) ended at now. late reports that its slot had passed already: the
// run is due now and the grid starts again from now.
func (s *schedule) next(now time.Time) (due time.Time, late bool) {
	s.slot = s.slot.Add(s.every)
	if !s.slot.After(now) {
		s.slot = now
		return now, true
	}
	due = s.slot.Add(s.jitter(s.every / jitterDivisor))
	if due.Before(now) {
		due = now
	}
	return due, false
}

// jitter returns a random offset from -max to max; 0 when max <= 0.
func jitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(2*int64(max)+1)) - max
}
