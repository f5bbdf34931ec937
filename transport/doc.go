// Package transport is hoard's RPC: msgpack over TCP with length-prefixed
// frames, request IDs multiplexing many calls over one connection, a
// handshake that checks protocol version and cluster name, deadlines carried
// with each request, and one writer goroutine per connection that coalesces
// queued frames into one write.
//
//	srv, err := transport.Listen("127.0.0.1:7373", cfg, transport.HandlerFunc(
//		func(req *transport.Request, r transport.Reply) {
//			var in MyRequest
//			if err := req.Decode(&in); err != nil { r.Send(nil, err); return }
//			r.Send(MyResponse{...}, nil)
//		}))
//	conn, err := transport.Dial(ctx, "127.0.0.1:7373", cfg)
//	err = conn.Call(ctx, "method", MyRequest{...}, &resp)
//
// A malformed or oversized frame closes its connection, logged, and harms
// nothing else.
//
// A server bounds what remote ends can make it hold. A frame's memory is
// allocated as its bytes arrive, never for its declared length; frames
// above 64 KiB also reserve their length from a budget shared by all
// connections (Config.MaxInFlight), and wait, unread, while it is spent.
// A frame must be complete within Config.FrameTimeout of its first byte; a
// connection with nothing arriving and no request being handled is closed
// after Config.IdleTimeout (a Pool redials); connections beyond
// Config.MaxConns are closed at once. Lines logged about what remote ends
// do are rate-limited.
//
// Config.ServerTLS and Config.ClientTLS put the connection under TLS.
// A dialler's hello carries Config.Token or Config.Proof; a server's
// Config.Authorize checks them (and the TLS state) and returns the identity
// that each Request carries, or refuses the dialler with ErrUnauthorized:
//
//	cfg.Authorize = func(h transport.Hello, st *tls.ConnectionState) (any, error) {
//		tok, err := tokens.Check(h.Token) // err says why, without the secret
//		if err != nil {
//			return nil, err
//		}
//		return tok.Role, nil
//	}
//	...
//	role := req.Identity.(auth.Role) // in a handler
package transport
