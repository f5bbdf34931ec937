// Command eventloop is a probe, not part of hoard: the least RESP server
// that answers redis-benchmark's GET from a Go map of 100,000 keys, served
// either with a goroutine per connection over package net ("net"), as
// hoard's RESP server is, or from one epoll event loop, as redis-server
// is, through gnet ("gnet"). run.sh runs both side by side with
// redis-server; README.md ("Tried, not kept: an event loop") has what it
// measured.
//
// Usage: eventloop net|gnet ADDR
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"log"
	"net"
	"os"
	"strconv"
	"sync"

	"github.com/panjf2000/gnet/v2"
)

// The cache: a map behind a mutex, as a hoard cache shard is.
var (
	mu    sync.Mutex
	cache = map[string][]byte{}
)

// handle answers the whole commands at the head of b, appending their
// replies to out: GET from the cache, anything else +OK (redis-benchmark
// sends CONFIG GET at the start). It returns how many bytes it consumed.
func handle(b, out []byte) (int, []byte) {
	off := 0
	var args [][]byte
	for {
		n, used, ok := command(b[off:], args[:0])
		if !ok {
			return off, out
		}
		args, off = n, off+used
		if len(args) == 2 && (args[0][0] == 'G' || args[0][0] == 'g') {
			mu.Lock()
			v, found := cache[string(args[1])]
			mu.Unlock()
			if !found {
				out = append(out, "$-1\r\n"...)
				continue
			}
			out = append(out, '$')
			out = strconv.AppendInt(out, int64(len(v)), 10)
			out = append(out, "\r\n"...)
			out = append(out, v...)
			out = append(out, "\r\n"...)
			continue
		}
		out = append(out, "+OK\r\n"...)
	}
}

// command parses one RESP array of bulk strings at the head of b into
// args; ok is false until it has arrived whole.
func command(b []byte, args [][]byte) (_ [][]byte, used int, ok bool) {
	n, p, ok := header(b, '*')
	if !ok {
		return args, 0, false
	}
	for range n {
		l, q, ok := header(b[p:], '$')
		if !ok || len(b) < p+q+l+2 {
			return args, 0, false
		}
		args = append(args, b[p+q:p+q+l])
		p += q + l + 2
	}
	return args, p, true
}

// header parses "<kind><digits>\r\n" at the head of b.
func header(b []byte, kind byte) (n, used int, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 2 || b[0] != kind || b[i-1] != '\r' {
		return 0, 0, false
	}
	n, err := strconv.Atoi(string(b[1 : i-1]))
	return n, i + 1, err == nil && n >= 0
}

// loop is the gnet server: one event loop, replies written as it goes.
type loop struct{ gnet.BuiltinEventEngine }

func (*loop) OnTraffic(c gnet.Conn) gnet.Action {
	in, _ := c.Peek(-1)
	n, out := handle(in, nil)
	_, _ = c.Discard(n)
	if len(out) > 0 {
		if _, err := c.Write(out); err != nil {
			return gnet.Close
		}
	}
	return gnet.None
}

// serveNet is the net server: a goroutine per connection.
func serveNet(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			r := bufio.NewReaderSize(c, 16<<10)
			in := make([]byte, 0, 64<<10)
			var out []byte
			for {
				if len(in) == cap(in) {
					return // a command larger than the buffer: not this probe's load
				}
				k, err := r.Read(in[len(in):cap(in)])
				if err != nil {
					return
				}
				in = in[:len(in)+k]
				n, o := handle(in, out[:0])
				out, in = o, in[:copy(in, in[n:])]
				if len(out) > 0 {
					if _, err := c.Write(out); err != nil {
						return
					}
				}
			}
		}()
	}
}

func main() {
	if len(os.Args) != 3 || (os.Args[1] != "net" && os.Args[1] != "gnet") {
		fmt.Fprintln(os.Stderr, "usage: eventloop net|gnet ADDR")
		os.Exit(2)
	}
	for i := range 100000 {
		cache[fmt.Sprintf("key:%012d", i)] = []byte("xxx")
	}
	var err error
	if os.Args[1] == "gnet" {
		err = gnet.Run(&loop{}, "tcp://"+os.Args[2], gnet.WithMulticore(false),
			gnet.WithLockOSThread(os.Getenv("LOCK_OS_THREAD") != ""))
	} else {
		err = serveNet(os.Args[2])
	}
	log.Fatal(err)
}
