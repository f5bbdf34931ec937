package node_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hoard-dev/hoard/loaders"
	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/sinks"
)

// TestReplicationSettingsAreChecked: a store's ack and replicas are checked
// against each other and against the ring's backups, defaults included.
func TestReplicationSettingsAreChecked(t *testing.T) {
	mem := sinks.NewMemory()
	for _, tc := range []struct {
		name    string
		backups int // the ring's
		store   node.StoreConfig
		err     string // "" when valid
	}{
		{"defaults: replicated to one backup", 2, node.StoreConfig{}, ""},
		{"two replicas, two backups", 2, node.StoreConfig{Replicas: 2}, ""},
		{"more replicas than backups", 2, node.StoreConfig{Replicas: 3}, "replicas 3 is more than the ring's backups (2)"},
		{"a ring without backups refuses the default", 0, node.StoreConfig{}, "replicas 1 is more than the ring's backups (0)"},
		{"a ring without backups, ack by the log", 0, node.StoreConfig{Ack: node.AckWAL}, ""},
		{"negative replicas", 2, node.StoreConfig{Replicas: -1}, "negative replicas"},
		{"an unknown ack", 2, node.StoreConfig{Ack: "disk"}, `ack "disk" is not`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := node.DefaultConfig()
			cfg.Ring.Backups = tc.backups
			sc := tc.store
			sc.Name, sc.Kind, sc.Sink = "pv", node.KindCounter, mem
			cfg.Stores = []node.StoreConfig{sc}
			err := cfg.Validate()
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.err != "" && (!errors.Is(err, node.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("Validate() = %v, want ErrInvalidConfig saying %q", err, tc.err)
			}
		})
	}
}

// TestIntervalsHaveAFloor: a flush, refresh or dump interval below
// MinInterval is refused with the reason; MinInterval itself is accepted.
func TestIntervalsHaveAFloor(t *testing.T) {
	mem := sinks.NewMemory()
	for _, tc := range []struct {
		name  string
		store node.StoreConfig
		err   string
	}{
		{"1ns interval", node.StoreConfig{Kind: node.KindCounter, Sink: mem, Interval: 1}, "at least 10ms"},
		{"floor interval", node.StoreConfig{Kind: node.KindCounter, Sink: mem, Interval: node.MinInterval}, ""},
		{"1µs refresh", node.StoreConfig{Kind: node.KindCache, Loader: loaders.LoaderFunc(nil), RefreshInterval: 1000}, "burns a core"},
		{"1µs dump", node.StoreConfig{Kind: node.KindCache, Loader: loaders.LoaderFunc(nil), DumpInterval: 1000}, "burns a core"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := node.DefaultConfig()
			sc := tc.store
			sc.Name = "s"
			cfg.Stores = []node.StoreConfig{sc}
			err := cfg.Validate()
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.err != "" && (!errors.Is(err, node.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("Validate() = %v, want ErrInvalidConfig saying %q", err, tc.err)
			}
		})
	}
}
