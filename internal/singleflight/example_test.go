package singleflight_test

import (
	"fmt"
	"sync"

	"github.com/hoard-dev/hoard/internal/singleflight"
)

func ExampleGroup() {
	var (
		mu    sync.Mutex // guards cache and loads
		cache = map[string]string{}
		loads singleflight.Group[string]
	)
	// Two misses of one key while its load is in flight: one load.
	mu.Lock()
	first := loads.Join("user:1", func(v string) { fmt.Println("caller 1 got", v) })
	second := loads.Join("user:1", func(v string) { fmt.Println("caller 2 got", v) })
	mu.Unlock()
	fmt.Println("caller 1 loads:", first, "caller 2 loads:", second)

	v := "Ada" // the load, run without the lock
	mu.Lock()
	waiters, stale := loads.Finish("user:1")
	if !stale {
		cache["user:1"] = v
	}
	mu.Unlock()
	for _, w := range waiters {
		w(v)
	}
	fmt.Println("cached:", cache["user:1"])
	// Output:
	// caller 1 loads: true caller 2 loads: false
	// caller 1 got Ada
	// caller 2 got Ada
	// cached: Ada
}
