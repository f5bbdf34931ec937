// Package config reads the configuration file of `hoard agent`.
//
// The file is HCL, or HCL's JSON syntax when its name ends in ".json" or it
// starts with '{':
//
//	name      = "n1"
//	bind_addr = "127.0.0.1:7946"
//	join      = ["127.0.0.1:7947"]
//
//	sink "file" "out" { path = "./data/n1/out.jsonl" }
//
//	counter "pageviews" {
//	  sink     = "out"
//	  interval = "5s"
//	}
//
// Load (or Parse) decodes it into an Agent with every default filled in, and
// reports every problem at once, each with its file position and field:
//
//	a, err := config.Load("hoard.hcl")
//	if err != nil {
//		return err // errors.Is(err, config.ErrInvalid) for a bad file
//	}
//	a.Node.Name = *nameFlag // command-line overrides
//	if err := a.Validate(); err != nil {
//		return err
//	}
//
// Durations are strings in Go syntax ("5s", "1m30s"). Unknown attributes and
// blocks are errors, so a typo is never silently ignored, and so are those
// of another store kind (a ttl in a counter, a sink in a cache).
//
// The file's settings are the node's own: the top-level attributes set
// Agent.Node, a node.Config starting from node.DefaultConfig, and a store
// block sets Store.Config, a node.StoreConfig starting from
// node.DefaultStoreConfig(kind); Agent and Store list which attribute is
// which field. A setting left out keeps the node's default, which for a
// store setting is what a zero field of node.StoreConfig means. A setting
// that can be turned off takes None, "none", and the node's value for it (a
// negative Jitter, FlushTimeout or MaxBytes; a zero MaxSize, TTL,
// RefreshInterval or MaxEntries). A zero is refused where the node would
// read it as the default, with a message saying what to write instead.
package config
