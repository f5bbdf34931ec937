package rpcserve

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/internal/statuspage"
)

// statusInfoTimeout bounds the info fan-out behind the status page, so that
// a member that does not answer delays a refresh by that much at most; it
// is below the page's refresh interval.
const statusInfoTimeout = 1500 * time.Millisecond

// HTTP returns the node's HTTP handler: the health endpoints, the status
// page (GET /) and the view it polls (GET /v1/cluster), and routes (the
// metrics). guard wraps what needs a token (routes too, unless
// routesOpen).
func (s *Server) HTTP(guard func(http.Handler) http.Handler, routes map[string]http.Handler, routesOpen bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		// Alive as long as the process serves HTTP.
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "name": s.cfg.Name})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, reason := s.node.Ready()
		code := http.StatusOK
		if !ok {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, map[string]any{"ready": ok, "reason": reason, "name": s.cfg.Name})
	})
	mux.Handle("GET /v1/status", guard(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"node": s.node.Status(), "members": s.Members().Members})
	})))
	view := statuspage.SourceFunc(s.view)
	mux.Handle("GET /{$}", guard(statuspage.Page(view)))
	mux.Handle("GET /v1/cluster", guard(statuspage.JSON(view)))
	for pattern, h := range routes {
		if !routesOpen {
			h = guard(h)
		}
		mux.Handle(pattern, h)
	}
	return mux
}

// view is what the status page shows: this node's status, members and
// ring, and every ring member's figures (stores, unflushed, WAL, replicas)
// through the info fan-out, bounded by statusInfoTimeout. A member that
// does not answer is listed with its error.
func (s *Server) view(ctx context.Context) statuspage.View {
	v := statuspage.View{Node: s.node.Status(), Members: s.Members().Members, Time: time.Now()}
	if snap := s.node.Cluster().Ring(); snap != nil {
		v.Ring.Version = snap.Version()
		v.Ring.Owners = make([]string, snap.Partitions())
		for p := range v.Ring.Owners {
			v.Ring.Owners[p] = snap.Owner(p).Name
		}
	}
	ctx, cancel := context.WithTimeout(ctx, statusInfoTimeout)
	defer cancel()
	info, err := s.Info(ctx, proto.InfoRequest{})
	v.Nodes, v.Error = info.Nodes, errString(err)
	return v
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
