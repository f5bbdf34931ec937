package resp

import (
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// logKind is a kind of line about misbehaving clients, rate limited on its
// own.
type logKind int

const (
	logHandshake logKind = iota // a TLS handshake failed
	logAuth                     // a wrong token
	logMaxConns                 // a connection over MaxConns
	logProtocol                 // a malformed request
	logTimeout                  // a command or a reply too slow
	numLogKinds
)

// rateLog writes at most one warning of each kind per interval; the
// warnings dropped in between are counted and reported, as "suppressed",
// by the next one written. It starts no goroutine: a count is reported
// only when its kind is logged again.
type rateLog struct {
	logger hclog.Logger
	every  time.Duration

	// mu guards kinds.
	mu    sync.Mutex
	kinds [numLogKinds]struct {
		last       time.Time
		suppressed int
	}
}

// warn logs msg with its key/value pairs, unless a line of kind was logged
// less than r.every ago.
func (r *rateLog) warn(kind logKind, msg string, args ...any) {
	now := time.Now()
	r.mu.Lock()
	k := &r.kinds[kind]
	if !k.last.IsZero() && now.Sub(k.last) < r.every {
		k.suppressed++
		r.mu.Unlock()
		return
	}
	suppressed := k.suppressed
	k.last, k.suppressed = now, 0
	r.mu.Unlock()
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	r.logger.Warn(msg, args...)
}
