package node_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/sinks"
)

// A Go program embeds a node with a counter store whose sink is a plain
// function, the way StatBuffer calls handle_flush(key, count). Other nodes
// would join it through Config.Join; here it runs alone.
func ExampleStart_counters() {
	dir, _ := os.MkdirTemp("", "hoard-example")
	defer os.RemoveAll(dir)

	handleFlush := sinks.SinkFunc(func(ctx context.Context, b sinks.Batch) error {
		slices.SortFunc(b.Counts, func(x, y sinks.Count) int { return int(x.Count - y.Count) })
		for _, c := range b.Counts {
			// A real sink would UPDATE ... SET n = n + c.Count here.
			fmt.Printf("flush %s %s +%d\n", b.Store, c.Key, c.Count)
		}
		return nil
	})

	ctx := context.Background()
	n, err := node.Start(ctx, &node.Config{
		Name:     "app-1",
		BindAddr: "127.0.0.1:0",
		RPCAddr:  "127.0.0.1:0",
		DataDir:  dir,
		Stores: []node.StoreConfig{{
			Name:     "pageviews",
			Kind:     node.KindCounter,
			Sink:     handleFlush,
			Interval: 10 * time.Second,
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = n.Incr(ctx, "pageviews", "/home", 1)
	_ = n.Incr(ctx, "pageviews", "/home", 10)
	_ = n.Incr(ctx, "pageviews", "/docs", 2)
	count, _ := n.Count(ctx, "pageviews", "/home")
	fmt.Println("unflushed /home:", count)

	// Shutdown flushes what the node holds before it stops.
	_ = n.Shutdown(ctx)
	// Output:
	// unflushed /home: 11
	// flush pageviews /docs +2
	// flush pageviews /home +11
}

// A buffer store's sink receives each key with its values in insertion
// order, the way DataBuffer calls handle_flush(key, data).
func ExampleStart_buffers() {
	dir, _ := os.MkdirTemp("", "hoard-example")
	defer os.RemoveAll(dir)

	handleFlush := sinks.SinkFunc(func(ctx context.Context, b sinks.Batch) error {
		slices.SortFunc(b.Values, func(x, y sinks.Values) int { return strings.Compare(x.Key, y.Key) })
		for _, kv := range b.Values {
			// A real sink would COPY these rows into a table here.
			fmt.Printf("flush %s %s %q\n", b.Store, kv.Key, kv.Values)
		}
		return nil
	})

	ctx := context.Background()
	n, err := node.Start(ctx, &node.Config{
		Name:     "app-1",
		BindAddr: "127.0.0.1:0",
		RPCAddr:  "127.0.0.1:0",
		DataDir:  dir,
		Stores: []node.StoreConfig{{
			Name:     "events",
			Kind:     node.KindBuffer,
			Sink:     handleFlush,
			Interval: 10 * time.Second,
			MaxSize:  1000,
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = n.Insert(ctx, "events", "u1", []byte("login"))
	_ = n.Insert(ctx, "events", "u2", []byte("signup"))
	_ = n.Insert(ctx, "events", "u1", []byte("view /home"), []byte("logout"))
	size, _ := n.Size(ctx, "events", "u1")
	fmt.Println("u1 holds", size)

	_ = n.Shutdown(ctx) // flushes what the node holds
	// Output:
	// u1 holds 3
	// flush events u1 ["login" "view /home" "logout"]
	// flush events u2 ["signup"]
}
