package flush

import (
	"context"
	"math/rand/v2"
	"time"
)

// Run flushes until ctx ends: each round waits for a timer of next() (drawn
// again every round) or for kick (nil: the timer only), then calls
// Flush(ctx, mode(), nil) (nil mode: Due) and logs its error unless ctx
// ended. next must not be nil. Run returns once ctx ends; a flush in
// progress then gives way, keeping its batches for the next flush.
func (p *Pipeline) Run(ctx context.Context, next func() time.Duration, kick <-chan struct{}, mode func() Mode) {
	t := time.NewTimer(next())
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-kick:
		case <-ctx.Done():
			return
		}
		m := Due
		if mode != nil {
			m = mode()
		}
		if _, err := p.Flush(ctx, m, nil); err != nil && ctx.Err() == nil {
			p.logger.Error("flush failed", "error", err)
		}
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
