package cluster

import (
	"bytes"
	"io"
	"sync"
	"time"
)

// conflictFilter passes memberlist's log lines on to w, except that it lets
// through its "Conflicting address" line about one node name at most once
// per every. memberlist logs one on each gossip or push-pull that carries a
// node under a name it knows at another address, which for two live nodes
// sharing a name is all the time.
type conflictFilter struct {
	w     io.Writer
	every time.Duration

	// mu guards last.
	mu   sync.Mutex
	last map[string]time.Time // node name -> when its conflict was last logged
}

var conflictLine = []byte("memberlist: Conflicting address for ")

func (f *conflictFilter) Write(p []byte) (int, error) {
	i := bytes.Index(p, conflictLine)
	if i < 0 {
		return f.w.Write(p)
	}
	name := p[i+len(conflictLine):]
	if j := bytes.Index(name, []byte(". Mine:")); j >= 0 {
		name = name[:j]
	}
	now := time.Now()
	f.mu.Lock()
	if f.last == nil {
		f.last = make(map[string]time.Time)
	}
	if len(f.last) > 1000 {
		for k, at := range f.last {
			if now.Sub(at) > f.every {
				delete(f.last, k)
			}
		}
	}
	at, seen := f.last[string(name)]
	pass := !seen || now.Sub(at) > f.every
	if pass {
		f.last[string(name)] = now
	}
	f.mu.Unlock()
	if !pass {
		return len(p), nil
	}
	return f.w.Write(p)
}
