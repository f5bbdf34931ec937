// Package resp is hoard's RESP2 front door: Redis clients write to any
// node with the commands they know. A key "STORE:KEY" names the store
// before the first separator; each command becomes ops on the node
// (Backend), which forwards them to their owners like any other entry
// point.
//
//	srv := resp.New(ln, backend, resp.Config{Separator: ":"})
//	go srv.Serve()
//	defer srv.Close()
//
//	$ redis-cli -p 6380 INCRBY pageviews:/home 5
//	(integer) 5
//
// Counters take INCR, INCRBY, DECR, DECRBY and GET (the unflushed count at
// the owner); buffers RPUSH, LLEN and LRANGE; caches GET, MGET, SET [EX|PX],
// DEL and EXISTS. Pipelined commands run together and are answered in
// order; ops on one key from one connection keep their order. The
// connection commands clients send on connect (PING, ECHO, HELLO, CLIENT,
// SELECT 0, COMMAND, INFO, QUIT) answer as Redis does, with RESP2 only.
//
// Security is in Config: TLS (mutual when the tls.Config asks for client
// certificates), tokens that a connection presents with AUTH [user]
// secret or HELLO 2 AUTH user secret before anything but HELLO and QUIT
// (NOAUTH otherwise, as Redis with requirepass), their roles (reads need
// read, writes write: NOPERM otherwise), and limits on connections, idle
// and slow clients and the bytes of commands being read:
//
//	srv := resp.New(ln, backend, resp.Config{TLS: tlsConfig, Tokens: tokens})
//
//	$ redis-cli --tls --cacert ca.pem -a "$HOARD_TOKEN" -p 6380 GET pageviews:/home
package resp
