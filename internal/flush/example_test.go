package flush_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/hoard-dev/hoard/internal/flush"
	"github.com/hoard-dev/hoard/sinks"
)

// counters is a minimal Source: counter deltas swapped out whole.
type counters struct {
	// mu guards counts and seq.
	mu     sync.Mutex
	counts map[string]int64
	seq    int
}

func (c *counters) Take(mode flush.Mode, only []int) (flush.Pending, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.counts) == 0 {
		return flush.Pending{}, false
	}
	c.seq++
	b := sinks.Batch{ID: fmt.Sprintf("n1.0a1b2c3d.%010d", c.seq), Store: "pageviews", Kind: sinks.KindCounter, Node: "n1", Time: time.Now()}
	for k, n := range c.counts {
		b.Counts = append(b.Counts, sinks.Count{Key: k, Count: n})
	}
	sort.Slice(b.Counts, func(i, j int) bool { return b.Counts[i].Key < b.Counts[j].Key })
	c.counts = map[string]int64{}
	return flush.Pending{Batch: b, Ops: int64(len(b.Counts))}, true
}

func (c *counters) Settle(flush.Pending) {}

func ExamplePipeline_Flush() {
	dir, _ := os.MkdirTemp("", "flush-example")
	defer os.RemoveAll(dir)

	sink := sinks.NewMemory()
	src := &counters{counts: map[string]int64{"/home": 3, "/about": 1}}
	p := flush.New(flush.Config{
		Store: "pageviews", Sink: sink, DeadLetters: flush.NewDeadLetters(filepath.Join(dir, "deadletter")),
		RetryMax: 5, RetryDelay: 10 * time.Millisecond, FlushTimeout: time.Second,
	}, src)

	res, err := p.Flush(context.Background(), flush.All, nil)
	fmt.Println(res.Batches, res.Keys, err)
	fmt.Println(sink.Counts("pageviews"))
	// Output:
	// 1 2 <nil>
	// map[/about:1 /home:3]
}

func ExamplePipeline_Replay() {
	dir, _ := os.MkdirTemp("", "flush-example")
	defer os.RemoveAll(dir)

	sink := sinks.NewMemory()
	sink.FailWith(func(sinks.Batch) error { return fmt.Errorf("%w: 400 Bad Request", sinks.ErrPermanent) })
	src := &counters{counts: map[string]int64{"/home": 3}}
	dl := flush.NewDeadLetters(filepath.Join(dir, "deadletter"))
	p := flush.New(flush.Config{
		Store: "pageviews", Sink: sink, DeadLetters: dl,
		RetryMax: 5, RetryDelay: 10 * time.Millisecond,
	}, src)

	_, err := p.Flush(context.Background(), flush.All, nil)
	fmt.Println(errors.Is(err, flush.ErrDeadLettered))
	letters, _, _ := dl.List("pageviews")
	fmt.Println(letters[0].Batch.ID, letters[0].Attempts)

	sink.FailWith(nil) // the sink is fixed
	replayed, failed, err := p.Replay(context.Background())
	fmt.Println(replayed, failed, err)
	// Output:
	// true
	// n1.0a1b2c3d.0000000001 1
	// [n1.0a1b2c3d.0000000001] [] <nil>
}
