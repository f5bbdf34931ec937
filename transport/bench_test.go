package transport

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchOp is a small request like a counter increment.
type benchOp struct {
	Store string `msgpack:"s"`
	Key   string `msgpack:"k"`
	Delta int64  `msgpack:"d"`
}

func benchEcho(req *Request, r Reply) {
	var op benchOp
	if err := req.Decode(&op); err != nil {
		r.Send(nil, err)
		return
	}
	r.Send(&op, nil)
}

func benchConn(b *testing.B) *Conn {
	b.Helper()
	cfg := &Config{Cluster: "bench", Name: "server", Logger: testLogger(b)}
	s := startServer(b, cfg, HandlerFunc(benchEcho))
	return dial(b, s, &Config{Cluster: "bench", Name: "client", Logger: testLogger(b)})
}

func reportCalls(b *testing.B, calls int64, start time.Time) {
	b.ReportMetric(float64(calls)/time.Since(start).Seconds(), "calls/s")
}

// BenchmarkCall is one caller doing one round trip at a time.
func BenchmarkCall(b *testing.B) {
	c := benchConn(b)
	ctx := context.Background()
	req := benchOp{Store: "pageviews", Key: "/home", Delta: 1}
	var resp benchOp
	b.ReportAllocs()
	start := time.Now()
	var n int64
	for b.Loop() {
		if err := c.Call(ctx, "incr", &req, &resp); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportCalls(b, n, start)
}

// BenchmarkCallParallel is many callers sharing one Conn: their requests are
// pipelined and coalesced into few writes. The loop hands out the calls; a
// fixed set of caller goroutines makes them.
func BenchmarkCallParallel(b *testing.B) {
	for _, callers := range []int{8, 64, 256} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			c := benchConn(b)
			ctx := context.Background()
			work := make(chan struct{}, callers)
			var wg sync.WaitGroup
			for range callers {
				wg.Go(func() {
					req := benchOp{Store: "pageviews", Key: "/home", Delta: 1}
					var resp benchOp
					for range work {
						if err := c.Call(ctx, "incr", &req, &resp); err != nil {
							b.Error(err)
						}
					}
				})
			}
			writes0 := c.l.writes.Load()
			b.ReportAllocs()
			start := time.Now()
			var n int64
			for b.Loop() {
				work <- struct{}{}
				n++
			}
			close(work)
			wg.Wait()
			reportCalls(b, n, start)
			b.ReportMetric(float64(n)/float64(c.l.writes.Load()-writes0), "frames/write")
		})
	}
}

// BenchmarkCallRunParallel drives one Conn from GOMAXPROCS*p goroutines,
// each looping on Call.
func BenchmarkCallRunParallel(b *testing.B) {
	for _, p := range []int{1, 16} {
		b.Run(fmt.Sprintf("p=%d", p), func(b *testing.B) {
			c := benchConn(b)
			ctx := context.Background()
			writes0 := c.l.writes.Load()
			b.ReportAllocs()
			b.SetParallelism(p)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				req := benchOp{Store: "pageviews", Key: "/home", Delta: 1}
				var resp benchOp
				for pb.Next() {
					if err := c.Call(ctx, "incr", &req, &resp); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportCalls(b, int64(b.N), start)
			b.ReportMetric(float64(b.N)/float64(c.l.writes.Load()-writes0), "frames/write")
		})
	}
}

// BenchmarkGo is asynchronous calls from one goroutine, at most window in
// flight, like a node forwarding ops to a peer.
func BenchmarkGo(b *testing.B) {
	for _, window := range []int{64, 1024} {
		b.Run(fmt.Sprintf("window=%d", window), func(b *testing.B) {
			c := benchConn(b)
			ctx := context.Background()
			req := benchOp{Store: "pageviews", Key: "/home", Delta: 1}
			sem := make(chan struct{}, window)
			var wg sync.WaitGroup
			var failed atomic.Int64
			writes0 := c.l.writes.Load()
			b.ReportAllocs()
			start := time.Now()
			var n int64
			for b.Loop() {
				sem <- struct{}{}
				wg.Add(1)
				c.Go(ctx, "incr", 0, &req, nil, func(err error) {
					if err != nil {
						failed.Add(1)
					}
					<-sem
					wg.Done()
				})
				n++
			}
			wg.Wait()
			reportCalls(b, n, start)
			b.ReportMetric(float64(n)/float64(c.l.writes.Load()-writes0), "frames/write")
			if f := failed.Load(); f > 0 {
				b.Fatalf("%d calls failed", f)
			}
		})
	}
}

// BenchmarkFrameCodec is the per-frame encode and decode cost.
func BenchmarkFrameCodec(b *testing.B) {
	h := header{Kind: kindRequest, ID: 123456, Method: "incr", Flags: FlagForwarded, Timeout: int64(time.Second)}
	body := mustEncode(b, &benchOp{Store: "pageviews", Key: "/home", Delta: 1})
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendFrame(buf[:0], &h, body)
		if _, _, err := decodeFrame(buf[frameLenSize:]); err != nil {
			b.Fatal(err)
		}
	}
}
