package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// relayRaw answers with the request body, without decoding it.
func relayRaw(req *Request, r Reply) {
	var raw Raw
	if err := req.Decode(&raw); err != nil {
		r.Send(nil, NewError("bad_request", err))
		return
	}
	r.Send(raw, nil)
}

// requestInfo is what the "info" method reports about the request it got.
type requestInfo struct {
	Method   string `msgpack:"method"`
	Flags    uint8  `msgpack:"flags"`
	Peer     string `msgpack:"peer"`
	Cluster  string `msgpack:"cluster"`
	Deadline int64  `msgpack:"deadline"` // UnixNano, 0 for none
}

func info(req *Request, r Reply) {
	ri := requestInfo{Method: req.Method, Flags: req.Flags, Peer: req.Peer.Name, Cluster: req.Peer.Cluster}
	if !req.Deadline.IsZero() {
		ri.Deadline = req.Deadline.UnixNano()
	}
	r.Send(&ri, nil)
}

func TestCallRoundTrip(t *testing.T) {
	checkLeaks(t)
	s := startServer(t, nil, mux{
		"echo":  echo,
		"raw":   relayRaw,
		"info":  info,
		"empty": func(_ *Request, r Reply) { r.Send(nil, nil) },
	})
	c := dial(t, s, nil)
	ctx := ctxTimeout(t)

	t.Run("struct", func(t *testing.T) {
		req := echoMsg{ID: 7, Payload: "héllo", Data: []byte{0, 1, 2, 0xff}}
		var resp echoMsg
		if err := c.Call(ctx, "echo", &req, &resp); err != nil {
			t.Fatalf("Call: %v", err)
		}
		if resp.ID != req.ID || resp.Payload != req.Payload || !bytes.Equal(resp.Data, req.Data) {
			t.Fatalf("got %+v, want %+v", resp, req)
		}
	})
	t.Run("raw relay decodes on the caller", func(t *testing.T) {
		req := echoMsg{ID: 8, Payload: strings.Repeat("x", 100_000)}
		var resp echoMsg
		if err := c.Call(ctx, "raw", &req, &resp); err != nil {
			t.Fatalf("Call: %v", err)
		}
		if resp.ID != req.ID || resp.Payload != req.Payload {
			t.Fatalf("got ID %d and %d payload bytes, want %d and %d", resp.ID, len(resp.Payload), req.ID, len(req.Payload))
		}
	})
	t.Run("raw both ways", func(t *testing.T) {
		body, err := msgpack.Marshal(map[string]any{"a": 1, "b": []string{"x", "y"}})
		if err != nil {
			t.Fatal(err)
		}
		var resp Raw
		if err := c.Call(ctx, "raw", Raw(body), &resp); err != nil {
			t.Fatalf("Call: %v", err)
		}
		if !bytes.Equal(resp, body) {
			t.Fatalf("got body %x, want %x", []byte(resp), body)
		}
	})
	t.Run("zero Reply", func(t *testing.T) {
		Reply{}.Send("dropped", nil) // must not panic
	})
	t.Run("empty reply", func(t *testing.T) {
		if err := c.Call(ctx, "empty", nil, nil); err != nil {
			t.Fatalf("Call: %v", err)
		}
	})
	t.Run("request metadata", func(t *testing.T) {
		var got requestInfo
		done := make(chan error, 1)
		c.Go(ctx, "info", FlagForwarded, nil, &got, func(err error) { done <- err })
		if err := recv(t, "the info reply", done); err != nil {
			t.Fatalf("Go: %v", err)
		}
		want := requestInfo{Method: "info", Flags: FlagForwarded, Peer: "client", Cluster: "test", Deadline: got.Deadline}
		if got != want {
			t.Fatalf("handler saw %+v, want %+v", got, want)
		}
		if r := c.Remote(); r.Name != "server" || r.Cluster != "test" || r.Protocol != ProtocolVersion {
			t.Fatalf("Remote() = %+v", r)
		}
		if c.Addr() != s.Addr().String() {
			t.Fatalf("Addr() = %q, want %q", c.Addr(), s.Addr())
		}
	})
}

func TestCallErrors(t *testing.T) {
	checkLeaks(t)
	longMsg := strings.Repeat("é", 3000) // 6000 bytes, above the 1024-byte frame limit below
	s := startServer(t, &Config{Cluster: "test", Name: "server", MaxFrameSize: 1024, Logger: testLogger(t)}, mux{
		"echo":      echo,
		"coded":     func(_ *Request, r Reply) { r.Send(nil, NewError("not_owner", errors.New("partition 3 moved"))) },
		"plain":     func(_ *Request, r Reply) { r.Send(nil, errors.New("disk on fire")) },
		"emptycode": func(_ *Request, r Reply) { r.Send(nil, NewError("", errors.New("no code given"))) },
		"relayed": func(_ *Request, r Reply) {
			r.Send(nil, fmt.Errorf("forwarding: %w", &Error{Code: "not_owner", Message: "from the owner"}))
		},
		"long":     func(_ *Request, r Reply) { r.Send(nil, NewError("long", errors.New(longMsg))) },
		"big":      func(_ *Request, r Reply) { r.Send(strings.Repeat("y", 4000), nil) },
		"unencode": func(_ *Request, r Reply) { r.Send(make(chan int), nil) },
		"panic":    func(*Request, Reply) { panic("boom") },
	})
	// The client's limit is as small as the server's, so an oversized error
	// reply would close the connection.
	c := dial(t, s, &Config{Cluster: "test", Name: "client", MaxFrameSize: 1024, Logger: testLogger(t)})
	ctx := ctxTimeout(t)

	tests := []struct {
		method  string
		code    string
		message string // a substring of the message
	}{
		{"coded", "not_owner", "partition 3 moved"},
		{"plain", CodeInternal, "disk on fire"},
		{"emptycode", CodeInternal, "no code given"},
		{"relayed", "not_owner", "from the owner"},
		{"unknown", "unknown_method", `no method "unknown"`},
		{"long", "long", "éé"},
		{"big", CodeInternal, "frame too large"},
		{"unencode", CodeInternal, "encode response"},
		{"panic", CodeInternal, "boom"},
	}
	for i, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			var resp echoMsg
			err := c.Call(ctx, tt.method, &echoMsg{ID: i}, &resp)
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("Call: %v (%T), want *Error", err, err)
			}
			if re.Code != tt.code || !strings.Contains(re.Message, tt.message) {
				t.Fatalf("got code %q message %.80q, want code %q message containing %q", re.Code, re.Message, tt.code, tt.message)
			}
			// The connection survives a failed call.
			if err := c.Call(ctx, "echo", &echoMsg{ID: i}, &resp); err != nil || resp.ID != i {
				t.Fatalf("echo after the error: %v, %+v", err, resp)
			}
		})
	}
}

func TestConcurrentCalls(t *testing.T) {
	checkLeaks(t)
	s := startServer(t, nil, HandlerFunc(echo))
	c := dial(t, s, nil)
	ctx := ctxTimeout(t)

	const goroutines, calls = 64, 500
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				id := g*calls + i
				req := echoMsg{ID: id, Payload: fmt.Sprintf("g%d-i%d", g, i)}
				var resp echoMsg
				if err := c.Call(ctx, "echo", &req, &resp); err != nil {
					errs <- fmt.Errorf("call %d: %w", id, err)
					return
				}
				if resp.ID != req.ID || resp.Payload != req.Payload {
					errs <- fmt.Errorf("call %d got the answer %+v", id, resp)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestGoOrder(t *testing.T) {
	checkLeaks(t)
	var mu sync.Mutex
	var seen []int // guarded by mu
	s := startServer(t, nil, HandlerFunc(func(req *Request, r Reply) {
		var n int
		if err := req.Decode(&n); err != nil {
			r.Send(nil, err)
			return
		}
		mu.Lock()
		seen = append(seen, n)
		mu.Unlock()
		r.Send(n, nil)
	}))
	c := dial(t, s, nil)
	ctx := ctxTimeout(t)

	const n = 5000
	var wg sync.WaitGroup
	var calls [n]atomic.Int32
	var failed atomic.Int32
	results := make([]int, n)
	wg.Add(n)
	for i := range n {
		c.Go(ctx, "seq", 0, i, &results[i], func(err error) {
			if calls[i].Add(1) == 1 {
				wg.Done()
			}
			if err != nil || results[i] != i {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d Go calls failed or got another answer", f)
	}
	for i := range calls {
		if got := calls[i].Load(); got != 1 {
			t.Fatalf("callback of call %d ran %d times", i, got)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != n {
		t.Fatalf("handler saw %d requests, want %d", len(seen), n)
	}
	for i, v := range seen {
		if v != i {
			t.Fatalf("handler saw request %d in position %d: order %v...", v, i, seen[max(0, i-3):min(n, i+3)])
		}
	}
}

// hangServer starts a server whose "hang" method never answers; it keeps the
// replies so a test can answer late. arrived receives each request's method.
func hangServer(t *testing.T) (s *Server, arrived chan *Request, replies chan Reply) {
	arrived = make(chan *Request, 1024)
	replies = make(chan Reply, 1024)
	s = startServer(t, nil, mux{
		"echo": echo,
		"info": info,
		"hang": func(req *Request, r Reply) {
			cp := *req
			cp.body = nil // only valid during ServeRPC
			arrived <- &cp
			replies <- r
		},
	})
	return s, arrived, replies
}

func TestDeadlines(t *testing.T) {
	checkLeaks(t)
	s, arrived, replies := hangServer(t)
	c := dial(t, s, nil)
	const timeout = 150 * time.Millisecond
	const slack = 2 * time.Second

	t.Run("Call", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		start := time.Now()
		err := c.Call(ctx, "hang", nil, nil)
		elapsed := time.Since(start)
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrNotSent) {
			t.Fatalf("Call: %v, want context.DeadlineExceeded without ErrNotSent", err)
		}
		if elapsed < timeout || elapsed > timeout+slack {
			t.Fatalf("Call returned after %s, want about %s", elapsed, timeout)
		}
		// The late answer is dropped and the connection goes on.
		recv(t, "the request", arrived)
		recv(t, "the reply", replies).Send("late", nil)
		var resp echoMsg
		if err := c.Call(ctxTimeout(t), "echo", &echoMsg{ID: 1}, &resp); err != nil || resp.ID != 1 {
			t.Fatalf("echo after the late reply: %v, %+v", err, resp)
		}
	})
	t.Run("Go", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		start := time.Now()
		type result struct {
			err     error
			elapsed time.Duration
		}
		done := make(chan result, 2)
		c.Go(ctx, "hang", 0, nil, nil, func(err error) { done <- result{err, time.Since(start)} })
		res := recv(t, "the reaper", done)
		if !errors.Is(res.err, context.DeadlineExceeded) {
			t.Fatalf("Go: %v, want context.DeadlineExceeded", res.err)
		}
		if res.elapsed < timeout || res.elapsed > timeout+slack {
			t.Fatalf("Go finished after %s, want about %s", res.elapsed, timeout)
		}
		recv(t, "the request", arrived)
		recv(t, "the reply", replies).Send(nil, nil)
		// The callback is not called a second time by the late reply.
		if err := c.Call(ctxTimeout(t), "echo", &echoMsg{}, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case res := <-done:
			t.Fatalf("callback called again with %v", res.err)
		default:
		}
	})
	t.Run("Request.Deadline", func(t *testing.T) {
		tests := []struct {
			name    string
			timeout time.Duration // 0: no deadline
		}{
			{"none", 0},
			{"5s", 5 * time.Second},
			{"1h", time.Hour},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if tt.timeout > 0 {
					ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				}
				defer cancel()
				var ri requestInfo
				if err := c.Call(ctx, "info", nil, &ri); err != nil {
					t.Fatal(err)
				}
				dl, ok := ctx.Deadline()
				if !ok {
					if ri.Deadline != 0 {
						t.Fatalf("server saw deadline %s, want none", time.Unix(0, ri.Deadline))
					}
					return
				}
				got := time.Unix(0, ri.Deadline)
				// The server adds the time left to its clock on arrival: no
				// earlier than ours, later by the transit time.
				if got.Before(dl.Add(-10*time.Millisecond)) || got.After(dl.Add(slack)) {
					t.Fatalf("server saw deadline %s, caller's is %s", got, dl)
				}
			})
		}
	})
	t.Run("expired before sending", func(t *testing.T) {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		if err := c.Call(ctx, "hang", nil, nil); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrNotSent) {
			t.Fatalf("Call: %v, want context.DeadlineExceeded and ErrNotSent", err)
		}
		done := make(chan error, 1)
		c.Go(ctx, "hang", 0, nil, nil, func(err error) { done <- err })
		if err := recv(t, "Go's callback", done); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrNotSent) {
			t.Fatalf("Go: %v, want context.DeadlineExceeded and ErrNotSent", err)
		}
		// Neither reached the handler: the next request it sees is this one.
		if err := c.Call(ctxTimeout(t), "echo", &echoMsg{}, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case req := <-arrived:
			t.Fatalf("handler got %q", req.Method)
		default:
		}
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Call(ctx, "hang", nil, nil) }()
		recv(t, "the request", arrived)
		cancel()
		if err := recv(t, "Call", done); !errors.Is(err, context.Canceled) {
			t.Fatalf("Call: %v, want context.Canceled", err)
		}
		recv(t, "the reply", replies)
	})
}

func TestConnClose(t *testing.T) {
	checkLeaks(t)
	s, arrived, _ := hangServer(t)
	c := dial(t, s, nil)
	ctx := ctxTimeout(t)

	inflight := make(chan error, 1)
	go func() { inflight <- c.Call(ctx, "hang", nil, nil) }()
	goDone := make(chan error, 1)
	c.Go(ctx, "hang", 0, nil, nil, func(err error) { goDone <- err })
	recv(t, "the first request", arrived)
	recv(t, "the second request", arrived)

	for i := range 2 {
		if err := c.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done is not closed after Close")
	}
	if err := c.Err(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Err() = %v, want ErrClosed", err)
	}
	// The server got these requests: they must not claim otherwise.
	if err := recv(t, "the in-flight Call", inflight); !errors.Is(err, ErrClosed) || errors.Is(err, ErrNotSent) {
		t.Fatalf("in-flight Call: %v, want ErrClosed without ErrNotSent", err)
	}
	if err := recv(t, "the in-flight Go", goDone); !errors.Is(err, ErrClosed) || errors.Is(err, ErrNotSent) {
		t.Fatalf("in-flight Go: %v, want ErrClosed without ErrNotSent", err)
	}
	if err := c.Call(ctx, "echo", &echoMsg{}, nil); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrNotSent) {
		t.Fatalf("Call after Close: %v, want ErrClosed and ErrNotSent", err)
	}
	done := make(chan error, 1)
	c.Go(ctx, "echo", 0, &echoMsg{}, nil, func(err error) { done <- err })
	if err := recv(t, "Go after Close", done); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrNotSent) {
		t.Fatalf("Go after Close: %v, want ErrClosed and ErrNotSent", err)
	}
}

func TestOutgoingTooLarge(t *testing.T) {
	checkLeaks(t)
	s := startServer(t, nil, HandlerFunc(echo))
	c := dial(t, s, &Config{Cluster: "test", Name: "client", MaxFrameSize: 1024, Logger: testLogger(t)})
	ctx := ctxTimeout(t)

	big := echoMsg{Payload: strings.Repeat("z", 2000)}
	if err := c.Call(ctx, "echo", &big, nil); !errors.Is(err, ErrFrameTooLarge) || !errors.Is(err, ErrNotSent) {
		t.Fatalf("Call with a large request: %v, want ErrFrameTooLarge and ErrNotSent", err)
	}
	done := make(chan error, 1)
	c.Go(ctx, "echo", 0, &big, nil, func(err error) { done <- err })
	if err := recv(t, "Go's callback", done); !errors.Is(err, ErrFrameTooLarge) || !errors.Is(err, ErrNotSent) {
		t.Fatalf("Go with a large request: %v, want ErrFrameTooLarge and ErrNotSent", err)
	}
	var resp echoMsg
	if err := c.Call(ctx, "echo", &echoMsg{ID: 3, Payload: "small"}, &resp); err != nil || resp.ID != 3 {
		t.Fatalf("Call after the refused one: %v, %+v", err, resp)
	}
	if err := c.Err(); err != nil {
		t.Fatalf("connection closed: %v", err)
	}
}

// TestCoalescing checks that concurrent callers share socket writes: the
// writer sends everything queued during the previous write at once. With one
// P the writer must yield to the senders, or it writes frame by frame.
func TestCoalescing(t *testing.T) {
	tests := []struct {
		name       string
		gomaxprocs int // 0: leave as it is
	}{
		{"default", 0},
		{"GOMAXPROCS=1", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.gomaxprocs > 0 {
				// Tests here do not run in parallel, so this only affects us.
				old := runtime.GOMAXPROCS(tt.gomaxprocs)
				t.Cleanup(func() { runtime.GOMAXPROCS(old) })
			}
			checkLeaks(t)
			s := startServer(t, nil, HandlerFunc(echo))
			c := dial(t, s, nil)
			ctx := ctxTimeout(t)

			const callers, calls = 32, 1000
			before := c.l.writes.Load()
			var wg sync.WaitGroup
			var failed atomic.Int32
			for g := range callers {
				wg.Go(func() {
					for i := range calls {
						if err := c.Call(ctx, "echo", &echoMsg{ID: g*calls + i}, nil); err != nil {
							failed.Add(1)
							return
						}
					}
				})
			}
			wg.Wait()
			if f := failed.Load(); f > 0 {
				t.Fatalf("%d callers failed", f)
			}
			writes := c.l.writes.Load() - before
			ratio := float64(callers*calls) / float64(writes)
			t.Logf("%d frames in %d writes: %.1f frames per write", callers*calls, writes, ratio)
			if ratio <= 2 {
				t.Fatalf("%.1f frames per write, want more than 2", ratio)
			}
		})
	}
}

// TestGoCallbackOnceOnClose races Go calls against the connection closing:
// whichever side finishes a call, its callback runs exactly once. Large
// bodies widen the window between registering a call and queueing it, in
// which the close can fail it.
func TestGoCallbackOnceOnClose(t *testing.T) {
	checkLeaks(t)
	s := startServer(t, nil, HandlerFunc(func(*Request, Reply) {})) // never answers
	big := &echoMsg{Payload: strings.Repeat("b", 256<<10)}
	for round := range 30 {
		c := dial(t, s, nil)
		const callers, calls = 8, 20
		var counts [callers * calls]atomic.Int32
		var wg sync.WaitGroup
		var started sync.WaitGroup
		started.Add(callers)
		for g := range callers {
			wg.Go(func() {
				started.Done()
				for i := range calls {
					c.Go(context.Background(), "drop", 0, big, nil, func(error) { counts[g*calls+i].Add(1) })
				}
			})
		}
		started.Wait()
		_ = c.Close()
		wg.Wait()
		for i := range counts {
			if n := counts[i].Load(); n != 1 {
				t.Fatalf("round %d: callback of call %d ran %d times", round, i, n)
			}
		}
	}
}
