package loaders

import (
	"context"
	"errors"
)

// Result is what a loader returns for a key.
type Result struct {
	// Value is the key's value. The cache keeps it: the loader must not
	// touch it after returning.
	Value []byte
	// Extra holds more entries to cache along with the key (DataWorker's
	// {:ok, v, map}); each is stored at its own owner. May be nil. Like
	// Value, the map and its values become the cache's.
	Extra map[string][]byte
}

// ErrNotFound is returned by Load, wrapped or not, for a key that does not
// exist. A cache answers such a Get with "not found" and caches nothing;
// any other error is a failed load (logged, not cached).
var ErrNotFound = errors.New("loaders: not found")

// ErrStopStart is wrapped by Init to ask the node not to start
// (DataWorker's {:stop, message}). Any other Init error is logged and the
// node starts without the entries.
var ErrStopStart = errors.New("loaders: stop start-up")

// Loader loads the value of a key a cache store does not hold
// (DataWorker's load/1). The key's owner calls Load once per miss and for
// every refresh, never with hoard's locks held, under a timeout carried by
// ctx, which Load must honour; a panic is recovered into an error. Load is
// called from many goroutines at once.
//
// Load returns ErrNotFound (wrapped or not) for a key that does not exist.
type Loader interface {
	Load(ctx context.Context, key string) (Result, error)
}

// LoaderFunc adapts a function to Loader.
type LoaderFunc func(ctx context.Context, key string) (Result, error)

// Load calls f.
func (f LoaderFunc) Load(ctx context.Context, key string) (Result, error) { return f(ctx, key) }

// Initializer is optionally implemented by a Loader: Init returns entries
// to seed the cache with when the node starts (DataWorker's init/1). Each
// entry is stored at its own owner. An error wrapping ErrStopStart stops the
// node's start-up; any other error is logged and start-up goes on. The
// returned map becomes the cache's.
type Initializer interface {
	Init(ctx context.Context) (map[string][]byte, error)
}

// InitFunc adapts a function to Initializer. Embedded next to a LoaderFunc
// it makes a seeding loader out of two functions:
//
//	l := struct {
//		loaders.LoaderFunc
//		loaders.InitFunc
//	}{load, seed}
type InitFunc func(ctx context.Context) (map[string][]byte, error)

// Init calls f.
func (f InitFunc) Init(ctx context.Context) (map[string][]byte, error) { return f(ctx) }

// seeding is a Loader that is an Initializer too: what the loaders of this
// package give a cache store when they have an init.
type seeding struct {
	Loader
	InitFunc
}

var (
	_ Loader      = LoaderFunc(nil)
	_ Initializer = InitFunc(nil)
	_ Initializer = seeding{}
)
