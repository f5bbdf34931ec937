package node

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/internal/statuspage"
)

// statusInfoTimeout bounds the info fan-out behind the status page, so that
// a member that does not answer delays a refresh by that much at most; it
// is below the page's refresh interval.
const statusInfoTimeout = 1500 * time.Millisecond

// startHTTP serves the health endpoints, the status page (GET /) and the
// view it polls (GET /v1/cluster) on the bound HTTP listener.
func (n *Node) startHTTP() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		// Alive as long as the process serves HTTP.
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "name": n.cfg.Name})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, reason := n.Ready()
		code := http.StatusOK
		if !ok {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, map[string]any{"ready": ok, "reason": reason, "name": n.cfg.Name})
	})
	mux.Handle("GET /v1/status", n.requireToken(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"node": n.status(), "members": n.rpcs.Members().Members})
	})))
	view := statuspage.SourceFunc(n.clusterView)
	mux.Handle("GET /{$}", n.requireToken(statuspage.Page(view)))
	mux.Handle("GET /v1/cluster", n.requireToken(statuspage.JSON(view)))
	for pattern, h := range n.cfg.HTTPRoutes {
		if !n.cfg.MetricsOpen {
			h = n.requireToken(h)
		}
		mux.Handle(pattern, h)
	}
	n.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       n.cfg.IdleTimeout,
		ErrorLog:          n.logger.Named("http").StandardLogger(nil),
	}
	n.goFunc(func() {
		if err := n.http.Serve(n.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.logger.Error("http server stopped", "error", err)
		}
	})
}

// clusterView is what the status page shows: this node's status, members
// and ring, and every ring member's figures (stores, unflushed, WAL,
// replicas) through the info fan-out, bounded by statusInfoTimeout. A
// member that does not answer is listed with its error.
func (n *Node) clusterView(ctx context.Context) statuspage.View {
	v := statuspage.View{Node: n.status(), Members: n.rpcs.Members().Members, Time: time.Now()}
	if snap := n.cluster.Ring(); snap != nil {
		v.Ring.Version = snap.Version()
		v.Ring.Owners = make([]string, snap.Partitions())
		for p := range v.Ring.Owners {
			v.Ring.Owners[p] = snap.Owner(p).Name
		}
	}
	ctx, cancel := context.WithTimeout(ctx, statusInfoTimeout)
	defer cancel()
	info, err := n.rpcs.Info(ctx, proto.InfoRequest{})
	v.Nodes, v.Error = info.Nodes, errString(err)
	return v
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
