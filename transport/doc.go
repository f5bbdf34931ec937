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
package transport
