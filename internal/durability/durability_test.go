package durability

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/cluster"
	"github.com/hoard-dev/hoard/internal/flush"
	"github.com/hoard-dev/hoard/internal/journal"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/internal/replica"
	"github.com/hoard-dev/hoard/ring"
	"github.com/hoard-dev/hoard/sinks"
)

// backup is a Keeper holding ops for others, with the membership it sees
// set by the test and a memory sink behind its store "pv".
type backup struct {
	*Keeper
	sink *sinks.Memory
	wg   sync.WaitGroup // the keeper's goroutines (failovers)

	mu      sync.Mutex
	members []cluster.Member
}

func newBackup(t *testing.T) *backup {
	t.Helper()
	b := &backup{sink: sinks.NewMemory()}
	dir := t.TempDir()
	k, err := Open(Config{
		Name:        "n3",
		DataDir:     dir,
		Go:          func(f func()) bool { b.wg.Go(f); return true },
		Stopping:    context.Background(),
		Ring:        func() *ring.Snapshot { return nil },
		Members:     b.seen,
		DeadLetters: flush.NewDeadLetters(filepath.Join(dir, "dl")),
	})
	if err != nil {
		t.Fatal(err)
	}
	k.Add("pv", Store{Replicas: 1, Replayer: journal.Replayer{
		Sink: b.sink, RetryMax: 1,
		Deliver: func(ctx context.Context, batch sinks.Batch, _ flush.Rebuild) error { return b.sink.Flush(ctx, batch) },
	}})
	b.Keeper = k
	t.Cleanup(func() {
		b.wg.Wait()
		if err := k.Close(context.Background(), true, 0); err != nil {
			t.Error(err)
		}
	})
	return b
}

func (b *backup) seen() []cluster.Member {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.members
}

// see sets the membership the keeper sees and tells it of a ring change,
// then waits for the failovers that started.
func (b *backup) see(members ...cluster.Member) {
	b.mu.Lock()
	b.members = members
	b.mu.Unlock()
	b.Watch(nil, nil)
	b.wg.Wait()
}

// hold gives the keeper n increments of origin, as its owner's sender
// would, and waits until they are held.
func (b *backup) hold(t *testing.T, origin string, n int) {
	t.Helper()
	var frame []byte
	for seq := 1; seq <= n; seq++ {
		frame = replica.AppendFrame(frame, journal.AppendRecord(nil, &op.Op{Kind: op.Incr, Store: "pv", Key: "k", Delta: 1}, 0, uint64(seq)))
	}
	held := make(chan error, 1)
	b.Serve(proto.ReplicateRequest{Origin: origin, Ops: frame}, func(err error) { held <- err })
	if err := <-held; err != nil {
		t.Fatal(err)
	}
}

func member(origin string, status cluster.Status, learned time.Time) cluster.Member {
	m := cluster.Member{Name: journal.NodeOf(origin), Status: status, Learned: learned}
	m.Origin = origin
	return m
}

// A backup delivers the ops of an incarnation only once it knows that
// incarnation ended: not while its membership still shows only an earlier
// incarnation of the node (the new one's join had not reached it when the
// ops came), nor while the node is unknown, nor while it lives; and it
// does once a later incarnation is heard of.
func TestFailoverWaitsForTheIncarnationToBeKnown(t *testing.T) {
	b := newBackup(t)
	before := time.Now()
	b.hold(t, "n2.2.bb", 3)

	for _, tc := range []struct {
		name    string
		members []cluster.Member
	}{
		{"an earlier incarnation that left", []cluster.Member{member("n2.1.aa", cluster.StatusLeft, before)}},
		{"an earlier incarnation that failed", []cluster.Member{member("n2.1.aa", cluster.StatusFailed, before)}},
		{"an earlier incarnation alive", []cluster.Member{member("n2.1.aa", cluster.StatusAlive, before)}},
		{"the node unknown", nil},
		{"the incarnation alive", []cluster.Member{member("n2.2.bb", cluster.StatusAlive, time.Now())}},
	} {
		b.see(tc.members...)
		if st := b.Stats(); st.ReplicaOps != 3 || st.Failovers != 0 || b.sink.Calls() != 0 {
			t.Fatalf("with %s: %d ops held, %d failovers, %d batches delivered; want 3 held, none delivered",
				tc.name, st.ReplicaOps, st.Failovers, b.sink.Calls())
		}
	}

	b.see(member("n2.3.cc", cluster.StatusAlive, time.Now()))
	if st := b.Stats(); st.ReplicaOps != 0 || st.Failovers != 1 {
		t.Fatalf("after a later incarnation: %d ops held, %d failovers; want 0 and 1", st.ReplicaOps, st.Failovers)
	}
	if got := b.sink.Counts("pv")["k"]; got != 3 {
		t.Fatalf("the sink holds %d for k, want the 3 held ops", got)
	}
}

// The ops of an incarnation that failed are delivered, those of one that
// left are dropped (it flushed them itself).
func TestFailoverByTheIncarnationsStatus(t *testing.T) {
	b := newBackup(t)
	b.hold(t, "n2.1.aa", 2)
	b.hold(t, "n4.1.dd", 5)
	b.see(member("n2.1.aa", cluster.StatusFailed, time.Now()), member("n4.1.dd", cluster.StatusLeft, time.Now()))
	if st := b.Stats(); st.ReplicaOps != 0 || st.Failovers != 1 {
		t.Fatalf("%d ops held, %d failovers; want 0 and 1", st.ReplicaOps, st.Failovers)
	}
	if got := b.sink.Counts("pv")["k"]; got != 2 {
		t.Fatalf("the sink holds %d for k, want the failed member's 2", got)
	}
}
