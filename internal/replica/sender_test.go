package replica

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/ring"
	"github.com/hoard-dev/hoard/sinks"
	"github.com/hoard-dev/hoard/transport"
)

// backup is a real RPC server holding what a Sender sends into a Holder,
// refusing the first fail frames.
type backup struct {
	h      *Holder
	srv    *transport.Server
	fail   atomic.Int64
	frames atomic.Int64
}

func startBackup(t *testing.T, fail int64) *backup {
	t.Helper()
	b := &backup{h: NewHolder(HolderConfig{Root: t.TempDir()})}
	b.fail.Store(fail)
	srv, err := transport.Listen("127.0.0.1:0", &transport.Config{Cluster: "test", Name: "backup"}, transport.HandlerFunc(func(req *transport.Request, r transport.Reply) {
		b.frames.Add(1)
		if b.fail.Add(-1) >= 0 {
			r.Send(nil, transport.NewError(proto.CodeInvalid, errors.New("refused for the test")))
			return
		}
		var in proto.ReplicateRequest
		if err := req.Decode(&in); err != nil {
			r.Send(nil, transport.NewError(proto.CodeInvalid, err))
			return
		}
		b.h.Hold(in.Origin, in.Ops, func(err error) { r.Send(nil, err) })
	}))
	if err := err; err != nil {
		t.Fatal(err)
	}
	b.srv = srv
	t.Cleanup(func() {
		_ = srv.Close()
		_ = b.h.Close(func(string) bool { return false })
	})
	return b
}

func newSender(t *testing.T) (*Sender, context.CancelFunc) {
	t.Helper()
	pool, err := transport.NewPool(&transport.Config{Cluster: "test", Name: "owner"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var running atomic.Int64
	done := make(chan struct{}, 64)
	s := NewSender(SenderConfig{Origin: "o.1.a", Pool: pool, Stopping: ctx, Go: func(f func()) bool {
		running.Add(1)
		go func() { f(); running.Add(-1); done <- struct{}{} }()
		return true
	}})
	t.Cleanup(func() {
		cancel()
		s.Close()
		for running.Load() > 0 {
			<-done
		}
		_ = pool.Close()
	})
	return s, cancel
}

// sendAll sends ops 1..n of partition 0 to m, of the ring of version v,
// and returns each one's answer.
func sendAll(s *Sender, v uint64, m ring.Member, n int) []chan error {
	out := make([]chan error, n)
	for i, rec := range recs(0, seqs(n)...) {
		out[i] = make(chan error, 1)
		s.Send(v, m, rec, op.DoneFunc(func(err error) { out[i] <- err }))
	}
	return out
}

func seqs(n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(i + 1)
	}
	return out
}

// drained fails t unless s has nothing left to send: Drain returns
// before its deadline.
func drained(t *testing.T, s *Sender) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.Drain(ctx)
	if ctx.Err() != nil {
		t.Fatal("Drain waited out its deadline: items left for a backup out of the ring")
	}
}

func wait(t *testing.T, answers []chan error) []error {
	t.Helper()
	out := make([]error, len(answers))
	for i, ch := range answers {
		select {
		case out[i] = <-ch:
		case <-time.After(30 * time.Second):
			t.Fatalf("op %d not answered within 30s", i+1)
		}
	}
	return out
}

// TestSenderHoldsEveryOpOnce: frames the backup refuses are sent again
// after a backoff; every op is answered once, and the backup holds each
// once, in order.
func TestSenderHoldsEveryOpOnce(t *testing.T) {
	b := startBackup(t, 2)
	s, _ := newSender(t)
	m := ring.Member{Name: "b", Addr: b.srv.Addr().String()}
	for i, err := range wait(t, sendAll(s, 1, m, 500)) {
		if err != nil {
			t.Fatalf("op %d: %v", i+1, err)
		}
	}
	s.Drain(context.Background())
	taken, _ := b.h.Take("o.1.a")
	if got := seqsOf(taken["pv"]); !slices.Equal(got, seqs(500)) {
		t.Fatalf("backup holds %d ops (%v...), want 1..500 once each", len(got), got[:min(len(got), 10)])
	}
	if b.frames.Load() < 3 {
		t.Fatalf("%d frames: the refused ones were not sent again", b.frames.Load())
	}
}

// TestSenderAnswersWhenTheBackupIsDroppedOrTheNodeStops: ops waiting for a
// backup that does not answer are answered nil once the ring drops it
// (the owner flushes what it backed up), and ErrShutdown once the node
// stops.
func TestSenderAnswersWhenTheBackupIsDroppedOrTheNodeStops(t *testing.T) {
	b := startBackup(t, 1<<40) // refuses everything
	t.Run("dropped", func(t *testing.T) {
		s, _ := newSender(t)
		m := ring.Member{Name: "b", Addr: b.srv.Addr().String()}
		answers := sendAll(s, 1, m, 10)
		others, err := ring.New(ring.DefaultConfig(), 2, []ring.Member{{Name: "owner", Addr: "127.0.0.1:1"}})
		if err != nil {
			t.Fatal(err)
		}
		s.Prune(others)
		for i, err := range wait(t, answers) {
			if err != nil {
				t.Fatalf("op %d: %v, want nil once the backup left the ring", i+1, err)
			}
		}
	})
	t.Run("the ring emptied", func(t *testing.T) {
		// The last members are leaving: none is in the ring, so no backup
		// is left to wait for, and a final flush's trims must not hold the
		// leave until its deadline.
		s, _ := newSender(t)
		m := ring.Member{Name: "b", Addr: b.srv.Addr().String()}
		answers := sendAll(s, 1, m, 10)
		s.Trim(1, "pv", []sinks.Range{{Partition: 0, First: 1, Last: 10}}, []ring.Member{m})
		s.Prune(nil)
		for i, err := range wait(t, answers) {
			if err != nil {
				t.Fatalf("op %d: %v, want nil once the ring has no member", i+1, err)
			}
		}
		drained(t, s)
	})
	t.Run("queued after the drop", func(t *testing.T) {
		// An owner that read the ring before the drop sends on to the
		// member it named: that starts no queue nothing would prune.
		b := startBackup(t, 1<<40) // its own: counts the frames it got
		s, _ := newSender(t)
		m := ring.Member{Name: "b", Addr: b.srv.Addr().String()}
		others, err := ring.New(ring.DefaultConfig(), 2, []ring.Member{{Name: "owner", Addr: "127.0.0.1:1"}})
		if err != nil {
			t.Fatal(err)
		}
		s.Prune(others)
		answers := sendAll(s, 1, m, 10)
		s.Trim(1, "pv", []sinks.Range{{Partition: 0, First: 1, Last: 10}}, []ring.Member{m})
		for i, err := range wait(t, answers) {
			if err != nil {
				t.Fatalf("op %d: %v, want nil for a member out of the ring", i+1, err)
			}
		}
		drained(t, s)
		if n := b.frames.Load(); n != 0 {
			t.Fatalf("%d frames went to a member out of the ring", n)
		}
		// A member of a newer ring than the one pruned (it joined, and the
		// owner read the ring first) gets its ops.
		joined := startBackup(t, 0)
		for i, err := range wait(t, sendAll(s, 3, ring.Member{Name: "j", Addr: joined.srv.Addr().String()}, 10)) {
			if err != nil {
				t.Fatalf("op %d to a member of a newer ring: %v", i+1, err)
			}
		}
		if taken, _ := joined.h.Take("o.1.a"); len(taken["pv"]) != 10 {
			t.Fatalf("the member of a newer ring holds %d ops, want 10", len(taken["pv"]))
		}
	})
	t.Run("stopping", func(t *testing.T) {
		s, stop := newSender(t)
		m := ring.Member{Name: "b", Addr: b.srv.Addr().String()}
		answers := sendAll(s, 1, m, 10)
		stop()
		for i, err := range wait(t, answers) {
			if !errors.Is(err, errs.ErrShutdown) {
				t.Fatalf("op %d: %v, want ErrShutdown", i+1, err)
			}
		}
	})
}
