// Package ratelog writes log lines about what remote ends do (malformed
// input, refused connections, failed handshakes, timeouts) at most once
// per interval per message: thousands of misbehaving connections cost a
// line a second, not a line each, and the next line of a message says how
// many were suppressed since the last one written. It starts no goroutine:
// a count is reported only when its message is logged again.
package ratelog

import (
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// DefaultEvery is the interval of New's Logger when every is zero.
const DefaultEvery = time.Second

// Logger rate-limits the lines of an hclog.Logger, per message.
type Logger struct {
	logger hclog.Logger
	every  time.Duration

	// mu guards kinds.
	mu    sync.Mutex
	kinds map[string]*kind
}

type kind struct {
	last       time.Time
	suppressed int
}

// New returns a Logger writing to logger at most one line per message per
// every (zero: DefaultEvery).
func New(logger hclog.Logger, every time.Duration) *Logger {
	if every <= 0 {
		every = DefaultEvery
	}
	return &Logger{logger: logger, every: every, kinds: make(map[string]*kind)}
}

// Log writes msg with args at level unless a line with msg was written less
// than the interval ago. msg must be a constant: it is the kind of line.
func (r *Logger) Log(level hclog.Level, msg string, args ...any) {
	if level < r.logger.GetLevel() {
		return
	}
	now := time.Now()
	r.mu.Lock()
	k, ok := r.kinds[msg]
	if !ok {
		k = &kind{}
		r.kinds[msg] = k
	}
	if !k.last.IsZero() && now.Sub(k.last) < r.every {
		k.suppressed++
		r.mu.Unlock()
		return
	}
	k.last = now
	suppressed := k.suppressed
	k.suppressed = 0
	r.mu.Unlock()
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	r.logger.Log(level, msg, args...)
}

// Warn is Log at hclog.Warn.
func (r *Logger) Warn(msg string, args ...any) { r.Log(hclog.Warn, msg, args...) }

// Debug is Log at hclog.Debug.
func (r *Logger) Debug(msg string, args ...any) { r.Log(hclog.Debug, msg, args...) }
