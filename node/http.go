package node

import (
	"errors"
	"net/http"
	"time"
)

// startHTTP serves the node's HTTP handler (rpcserve.Server.HTTP) on the
// bound HTTP listener.
func (n *Node) startHTTP() {
	n.http = &http.Server{
		Handler:           n.rpcs.HTTP(n.requireToken, n.cfg.HTTPRoutes, n.cfg.MetricsOpen),
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
