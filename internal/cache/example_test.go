package cache_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hoard-dev/hoard/internal/cache"
	"github.com/hoard-dev/hoard/loaders"
)

func ExampleStore_StartLoad() {
	c := cache.New(cache.Config{Partitions: 16, TTL: time.Hour})
	users := loaders.LoaderFunc(func(ctx context.Context, key string) (loaders.Result, error) {
		return loaders.Result{Value: []byte("Ada")}, nil
	})
	lc := cache.LoadConfig{Loader: users, Timeout: time.Second}

	// Two misses of one key: the first runs the load, the second waits.
	reply := func(caller string) func(cache.Outcome) {
		return func(out cache.Outcome) { fmt.Printf("%s got %s\n", caller, out.Value) }
	}
	_, _, first := c.StartLoad(3, "user:1", reply("caller 1"))
	_, _, second := c.StartLoad(3, "user:1", reply("caller 2"))
	fmt.Println("caller 1 loads:", first, "caller 2 loads:", second)

	out, _ := cache.Load(context.Background(), context.Background(), lc, "user:1")
	c.FinishLoad(3, "user:1", out, true)

	v, hit, _ := c.StartLoad(3, "user:1", nil)
	fmt.Printf("then a hit: %v %s\n", hit, v)
	// Output:
	// caller 1 loads: true caller 2 loads: false
	// caller 1 got Ada
	// caller 2 got Ada
	// then a hit: true Ada
}

func ExampleLoad() {
	lc := cache.LoadConfig{
		Timeout:       time.Second,
		MaxValueBytes: 1 << 20,
		Loader: loaders.LoaderFunc(func(ctx context.Context, key string) (loaders.Result, error) {
			if key == "user:2" {
				return loaders.Result{}, loaders.ErrNotFound
			}
			return loaders.Result{}, errors.New("database is down")
		}),
	}
	out, _ := cache.Load(context.Background(), context.Background(), lc, "user:2")
	fmt.Println("found:", out.Found, "error:", out.Err)
	out, _ = cache.Load(context.Background(), context.Background(), lc, "user:1")
	fmt.Println("failed:", errors.Is(out.Err, cache.ErrLoadFailed))
	// Output:
	// found: false error: <nil>
	// failed: true
}

func ExampleWriteDump() {
	dir, _ := os.MkdirTemp("", "hoard-dump")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "cache", "users.dump")

	c := cache.New(cache.Config{Partitions: 1, TTL: time.Hour})
	c.Set(0, "user:1", []byte("Ada"))
	if err := cache.WriteDump(path, c.List()); err != nil {
		fmt.Println(err)
		return
	}

	// At the next start: each entry keeps its age for the TTL.
	restarted := cache.New(cache.Config{Partitions: 1, TTL: time.Hour})
	n, err := cache.ReadDump(path, 64<<10, nil, func(key string, value []byte, loaded, expires time.Time) {
		restarted.Restore(0, key, value, loaded, expires)
	})
	v, _ := restarted.Get(0, "user:1")
	fmt.Println(n, err, string(v))
	// Output:
	// 1 <nil> Ada
}
