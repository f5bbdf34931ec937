// Package singleflight keeps at most one call in flight per key, handing
// its result to every caller that asked for the key meanwhile.
//
// Unlike golang/groupcache's singleflight, a Group runs nothing and takes
// no lock of its own: callers register callbacks and the caller guards the
// Group with its own lock. That lets a cache lookup and the registration of
// a miss share one lock, so a call that has just finished (and stored its
// result) is never started again by a caller that missed just before:
//
//	mu.Lock()
//	if v, ok := m[key]; ok {
//		mu.Unlock()
//		return v
//	}
//	first := loads.Join(key, func(v Value) { reply(v) })
//	mu.Unlock()
//	if first {
//		go func() {
//			v := load(key)
//			mu.Lock()
//			waiters, stale := loads.Finish(key)
//			if !stale {
//				m[key] = v // a Set during the load (MarkStale) wins
//			}
//			mu.Unlock()
//			for _, w := range waiters { // outside the lock
//				w(v)
//			}
//		}()
//	}
//
// A write of the key while its call is in flight calls MarkStale (under the
// same lock), so the call's older result is handed to its waiters but not
// stored over the newer value.
package singleflight
