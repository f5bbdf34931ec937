package transport

import (
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// logInterval is how often a rateLog writes a line of one kind.
const logInterval = time.Second

// rateLog writes lines about what remote ends do (malformed input, refused
// connections, timeouts) at most once per logInterval per message, adding
// how many lines of that message it suppressed since the last one written:
// thousands of misbehaving connections cost a line a second, not a line
// each. Lines suppressed last are counted in the next line of their kind.
type rateLog struct {
	logger hclog.Logger

	// mu guards kinds.
	mu    sync.Mutex
	kinds map[string]*rateKind
}

type rateKind struct {
	last       time.Time
	suppressed int
}

func newRateLog(logger hclog.Logger) *rateLog {
	return &rateLog{logger: logger, kinds: make(map[string]*rateKind)}
}

// log writes msg with args at level unless a line with msg was written less
// than logInterval ago. msg must be a constant: it is the kind.
func (r *rateLog) log(level hclog.Level, msg string, args ...any) {
	if level < r.logger.GetLevel() {
		return
	}
	now := time.Now()
	r.mu.Lock()
	k, ok := r.kinds[msg]
	if !ok {
		k = &rateKind{}
		r.kinds[msg] = k
	}
	if !k.last.IsZero() && now.Sub(k.last) < logInterval {
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

func (r *rateLog) warn(msg string, args ...any)  { r.log(hclog.Warn, msg, args...) }
func (r *rateLog) debug(msg string, args ...any) { r.log(hclog.Debug, msg, args...) }
