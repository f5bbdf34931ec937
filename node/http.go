package node

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// startHTTP serves the health endpoints on the bound HTTP listener.
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
		writeJSON(w, http.StatusOK, map[string]any{"node": n.status(), "members": n.membersResponse().Members})
	})))
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

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
