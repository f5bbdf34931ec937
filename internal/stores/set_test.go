package stores

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/cluster"
	"github.com/hoard-dev/hoard/internal/durability"
	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/flush"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/loaders"
	"github.com/hoard-dev/hoard/ring"
	"github.com/hoard-dev/hoard/sinks"
)

const partitions = 8

// newSet builds the stores cfgs declare on a node of one, "n1", whose
// durability keeper logs nothing (every store acks in memory).
func newSet(t *testing.T, cfgs ...Config) *Set {
	t.Helper()
	dir := t.TempDir()
	var wg sync.WaitGroup
	goFunc := func(f func()) bool { wg.Go(f); return true }
	dlq := flush.NewDeadLetters(filepath.Join(dir, "deadletter"))
	k, err := durability.Open(durability.Config{
		Name: "n1", DataDir: dir, Go: goFunc, Stopping: t.Context(), DeadLetters: dlq,
		Ring: func() *ring.Snapshot { return nil }, Members: func() []cluster.Member { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := k.Close(context.Background(), false, 0); err != nil {
			t.Error(err)
		}
		wg.Wait()
	})
	return NewSet(cfgs, Deps{
		Host: op.Host{
			Node: "n1", Partitions: partitions, Go: goFunc, Stopping: t.Context(), Exposed: new(atomic.Int64),
			Origin: k.Origin(), BatchID: k.BatchID, Logger: hclog.NewNullLogger(),
		},
		Keeper: k, DeadLetters: dlq, DataDir: dir, MaxValueBytes: 1 << 20,
		Route: func(context.Context, *Store, op.Op, func(error)) { t.Error("a store routed an op") },
	})
}

// apply runs o on the store it names, where the ring would place it.
func apply(t *testing.T, set *Set, o op.Op) op.Result {
	t.Helper()
	s, err := set.Get(o.Store)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Accepts(o.Kind); err != nil {
		t.Fatal(err)
	}
	r, now := s.Engine.Apply(&o, ring.PartitionOf(partitions, o.Store, o.Key), nil)
	if !now {
		t.Fatalf("%v on %s/%s was not applied at once", o.Kind, o.Store, o.Key)
	}
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	return r
}

func counterConfig(name string, sink sinks.Sink) Config {
	return Config{Name: name, Kind: KindCounter, Sink: sink, Ack: AckMemory, Interval: time.Hour, RetryMax: 1}
}

func TestSetFindsStoresByName(t *testing.T) {
	sink := sinks.NewMemory()
	loader := loaders.LoaderFunc(func(context.Context, string) (loaders.Result, error) { return loaders.Result{}, nil })
	set := newSet(t,
		counterConfig("pv", sink),
		Config{Name: "events", Kind: KindBuffer, Sink: sink, Ack: AckMemory},
		Config{Name: "users", Kind: KindCache, Loader: loader},
	)
	all, err := set.Select("")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range all {
		names = append(names, s.Config.Name)
	}
	if want := []string{"events", "pv", "users"}; !slices.Equal(names, want) {
		t.Fatalf("every store: %v, want %v (by name)", names, want)
	}
	if one, err := set.Select("pv"); err != nil || len(one) != 1 || one[0].Config.Kind != KindCounter {
		t.Fatalf("Select(pv) = %v, %v; want the counter store", one, err)
	}
	for _, call := range []func() error{
		func() error { _, err := set.Get("nope"); return err },
		func() error { _, err := set.Select("nope"); return err },
		func() error { _, err := set.Flush(t.Context(), "nope"); return err },
		func() error { _, err := set.Info("nope"); return err },
		func() error { _, err := set.DeadLetters("nope"); return err },
		func() error { _, err := set.Replay(t.Context(), "nope"); return err },
	} {
		if err := call(); !errors.Is(err, errs.ErrUnknownStore) {
			t.Fatalf("an unknown store: %v, want ErrUnknownStore", err)
		}
	}
	pv, _ := set.Get("pv")
	if got := pv.Config.Interval; got != time.Hour {
		t.Fatalf("interval %s, want the declared 1h", got)
	}
	if got := pv.Config.FlushTimeout; got != DefaultFlushTimeout {
		t.Fatalf("flush timeout %s, want the default %s", got, DefaultFlushTimeout)
	}
	for kind, want := range map[op.Kind]error{op.Incr: nil, op.Count: nil, op.Insert: errs.ErrWrongKind, op.Get: errs.ErrWrongKind, op.Kind(250): errs.ErrWrongKind} {
		if err := pv.Accepts(kind); !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Fatalf("the counter store accepts kind %d: %v, want %v", kind, err, want)
		}
	}
}

// A flush that fails dead-letters its batch, listed by store; a replay
// delivers it once and removes it. Info counts all of it.
func TestSetFlushesDeadLettersAndReplays(t *testing.T) {
	sink := sinks.NewMemory()
	down := errors.New("sink down")
	sink.FailWith(func(sinks.Batch) error { return down })
	set := newSet(t, counterConfig("pv", sink), counterConfig("clicks", sink))
	apply(t, set, op.Op{Kind: op.Incr, Store: "pv", Key: "/home", Delta: 5})
	apply(t, set, op.Op{Kind: op.Incr, Store: "pv", Key: "/home", Delta: 2})
	apply(t, set, op.Op{Kind: op.Incr, Store: "clicks", Key: "buy", Delta: 1})

	info, err := set.Info("pv")
	if err != nil {
		t.Fatal(err)
	}
	if len(info) != 1 || info[0].Keys != 1 || info[0].Values != 2 || info[0].Kind != KindCounter {
		t.Fatalf("info before the flush: %+v, want 1 key, 2 increments", info)
	}

	res, err := set.Flush(t.Context(), "")
	if !errors.Is(err, flush.ErrDeadLettered) || !errors.Is(err, down) {
		t.Fatalf("flush into a failing sink: %v, want ErrDeadLettered and the sink's error", err)
	}
	if res.DeadLettered != 2 || res.Batches != 0 {
		t.Fatalf("flush result %+v, want 2 dead-lettered, 0 delivered", res)
	}
	letters, err := set.DeadLetters("")
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != 2 || letters[0].Store != "clicks" || letters[1].Store != "pv" || letters[1].Keys != 1 {
		t.Fatalf("dead letters %+v, want one of clicks then one of pv", letters)
	}
	if only, _ := set.DeadLetters("pv"); len(only) != 1 || only[0].Batch != letters[1].Batch {
		t.Fatalf("dead letters of pv: %+v, want %s", only, letters[1].Batch)
	}

	sink.FailWith(nil)
	rr, err := set.Replay(t.Context(), "pv")
	if err != nil || len(rr.Replayed) != 1 || rr.Replayed[0] != letters[1].Batch || len(rr.Failed) != 0 {
		t.Fatalf("replay of pv: %+v, %v; want %s replayed", rr, err, letters[1].Batch)
	}
	if got := sink.Counts("pv")["/home"]; got != 7 {
		t.Fatalf("the sink holds %d for pv//home, want 7", got)
	}
	if got := sink.Counts("clicks")["buy"]; got != 0 {
		t.Fatalf("the sink holds %d for clicks/buy before its replay, want 0", got)
	}
	if left, _ := set.DeadLetters(""); len(left) != 1 || left[0].Store != "clicks" {
		t.Fatalf("dead letters after the replay of pv: %+v, want clicks' only", left)
	}
	info, _ = set.Info("pv")
	if info[0].DeadLettered != 1 || info[0].Keys != 0 || info[0].Failures != 1 {
		t.Fatalf("info after it all: %+v, want 1 dead-lettered, 1 failure, no key held", info[0])
	}
}
