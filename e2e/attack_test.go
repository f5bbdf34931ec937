//go:build e2e

package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/client"
	"github.com/hoard-dev/hoard/transport"
)

// clientHello captures the hello frame a real client sends first, by
// letting transport.Dial talk to a listener of the test's own.
func clientHello(t *testing.T) []byte {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if c, err := transport.Dial(ctx, ln.Addr().String(), nil); err == nil {
			_ = c.Close()
		}
	}()
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	frame := readRawFrame(t, nc)
	_ = nc.Close()
	cancel()
	<-done
	return frame
}

// readRawFrame reads one length-prefixed frame, prefix included.
func readRawFrame(t *testing.T, nc net.Conn) []byte {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var n [4]byte
	if _, err := io.ReadFull(nc, n[:]); err != nil {
		t.Fatalf("read a frame: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(n[:]))
	if _, err := io.ReadFull(nc, body); err != nil {
		t.Fatalf("read a frame: %v", err)
	}
	_ = nc.SetReadDeadline(time.Time{})
	return append(n[:], body...)
}

// handshaken opens a connection to addr and completes the hello.
func handshaken(t *testing.T, addr string, hello []byte) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(hello); err != nil {
		t.Fatal(err)
	}
	readRawFrame(t, nc)
	return nc
}

// TestAgentHoldsUnderMemoryAttacks replays the attacks of the security
// review on a real agent: 30 handshaken connections each sending 15 MiB of
// a declared 16 MiB frame, then 50 sending a 4-byte length and a byte every
// 100ms, then 500 handshaken connections left idle. The agent's heap stays
// within 64 MiB of its idle size while a real client keeps writing without
// a failure, and the idle connections are closed after idle_timeout.
func TestAgentHoldsUnderMemoryAttacks(t *testing.T) {
	agents := startAgents(t, 1, `
idle_timeout = "2s"
sink "file" "out" {
  path = "{dir}/out.jsonl"
}
counter "pv" {
  sink = "out"
}
`)
	a := agents[0]
	waitMembers(t, agents)
	hello := clientHello(t)

	var ops, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		ctx := context.Background()
		cl, err := client.Dial(ctx, a.rpc)
		if err != nil {
			t.Errorf("dial: %v", err)
			return
		}
		defer cl.Close()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			octx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := cl.Incr(octx, "pv", fmt.Sprintf("k%d", i%100), 1); err != nil {
				failed.Add(1)
			}
			cancel()
			ops.Add(1)
			time.Sleep(time.Millisecond) // a steady trickle, not a load test
		}
	})
	defer func() {
		close(stop)
		wg.Wait()
		if f := failed.Load(); f != 0 {
			t.Errorf("%d of the real client's %d ops failed during the attacks", f, ops.Load())
		}
	}()
	progress := func(n int64) {
		t.Helper()
		target := ops.Load() + n
		waitFor(t, 30*time.Second, "the real client to make progress", func() error {
			if got := ops.Load(); got < target {
				return fmt.Errorf("%d ops, want %d", got, target)
			}
			return nil
		})
	}
	progress(100)
	heap := func() float64 { return metric(t, a, "go_memstats_heap_alloc_bytes") / (1 << 20) }
	rss := func() float64 { return metric(t, a, "process_resident_memory_bytes") / (1 << 20) }
	idleHeap, idleRSS := heap(), rss()
	t.Logf("idle: heap %.0f MiB, RSS %.0f MiB", idleHeap, idleRSS)
	peak := func(what string, until func() bool) {
		t.Helper()
		var maxHeap, maxRSS float64
		deadline := time.Now().Add(60 * time.Second)
		for !until() && time.Now().Before(deadline) {
			maxHeap, maxRSS = max(maxHeap, heap()), max(maxRSS, rss())
			time.Sleep(50 * time.Millisecond) // sampling period
		}
		maxHeap, maxRSS = max(maxHeap, heap()), max(maxRSS, rss())
		t.Logf("%s: peak heap %.0f MiB (+%.0f), peak RSS %.0f MiB", what, maxHeap, maxHeap-idleHeap, maxRSS)
		if maxHeap > idleHeap+64 {
			t.Errorf("%s: heap peaked at %.0f MiB, more than 64 MiB over its idle %.0f MiB", what, maxHeap, idleHeap)
		}
	}

	// 30 connections, each 15 MiB into a declared 16 MiB frame.
	var sent atomic.Int64
	var conns []net.Conn
	for range 30 {
		nc := handshaken(t, a.rpc, hello)
		conns = append(conns, nc)
		wg.Go(func() {
			var prefix [4]byte
			binary.BigEndian.PutUint32(prefix[:], 16<<20)
			_ = nc.SetWriteDeadline(time.Now().Add(20 * time.Second))
			if _, err := nc.Write(prefix[:]); err != nil {
				return
			}
			chunk := make([]byte, 1<<20)
			for range 15 {
				if _, err := nc.Write(chunk); err != nil {
					return
				}
				sent.Add(1 << 20)
			}
		})
	}
	start := time.Now()
	peak("30 connections × 15 MiB of a 16 MiB frame", func() bool {
		return time.Since(start) > 5*time.Second && sent.Load() > 0
	})
	progress(100)
	for _, nc := range conns {
		_ = nc.Close()
	}
	t.Logf("the attackers got %d MiB into the agent's sockets", sent.Load()>>20)

	// 50 slow connections: a length, then a byte every 100ms.
	conns = conns[:0]
	for range 50 {
		nc := handshaken(t, a.rpc, hello)
		conns = append(conns, nc)
	}
	slowStop := make(chan struct{})
	for _, nc := range conns {
		wg.Go(func() {
			var prefix [4]byte
			binary.BigEndian.PutUint32(prefix[:], 16<<20)
			if _, err := nc.Write(prefix[:]); err != nil {
				return
			}
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-slowStop:
					return
				case <-tick.C:
					if _, err := nc.Write([]byte{0}); err != nil {
						return
					}
				}
			}
		})
	}
	start = time.Now()
	peak("50 connections sending a byte every 100ms", func() bool { return time.Since(start) > 5*time.Second })
	close(slowStop)
	for _, nc := range conns {
		_ = nc.Close()
	}
	progress(100)

	// 500 handshaken connections left idle: closed after idle_timeout (2s).
	conns = conns[:0]
	for range 500 {
		conns = append(conns, handshaken(t, a.rpc, hello))
	}
	start = time.Now()
	var closed atomic.Int64
	var idle sync.WaitGroup
	for _, nc := range conns {
		idle.Go(func() {
			_ = nc.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, err := nc.Read(make([]byte, 1)); err == io.EOF {
				closed.Add(1)
			}
			_ = nc.Close()
		})
	}
	idle.Wait()
	t.Logf("500 idle connections: %d closed by the agent within %s", closed.Load(), time.Since(start).Round(100*time.Millisecond))
	if closed.Load() != 500 {
		t.Fatalf("the agent closed %d of 500 idle connections within 30s (idle_timeout 2s)", closed.Load())
	}
	progress(100)
}
