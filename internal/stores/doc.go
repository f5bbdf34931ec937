// Package stores holds a node's declared stores: their configuration
// (Config, with its defaults and Validate), the engine each kind runs
// (internal/counter, internal/buffer, internal/cache), and the set of them
// that the node's Flush, Info, DeadLetters and ReplayDeadLetters walk.
// Package node re-exports the configuration and the results under its own
// names (node.StoreConfig is Config) and only wires a Set to the rest of
// the node.
package stores
