package ring_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/hoard-dev/hoard/ring"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := ring.DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*ring.Config)
		field string // named in the error; "" if valid
	}{
		{"default", func(*ring.Config) {}, ""},
		{"one partition", func(c *ring.Config) { c.Partitions = 1 }, ""},
		{"max partitions", func(c *ring.Config) { c.Partitions = ring.MaxPartitions }, ""},
		{"load one", func(c *ring.Config) { c.Load = 1 }, ""},
		{"huge load", func(c *ring.Config) { c.Load = math.MaxFloat64 }, ""},
		{"one virtual node", func(c *ring.Config) { c.VirtualNodes = 1 }, ""},
		{"no backups", func(c *ring.Config) { c.Backups = 0 }, ""},
		{"many backups", func(c *ring.Config) { c.Backups = 1000 }, ""},
		{"zero partitions", func(c *ring.Config) { c.Partitions = 0 }, "Partitions = 0"},
		{"negative partitions", func(c *ring.Config) { c.Partitions = -1 }, "Partitions = -1"},
		{"too many partitions", func(c *ring.Config) { c.Partitions = ring.MaxPartitions + 1 }, "Partitions"},
		{"zero load", func(c *ring.Config) { c.Load = 0 }, "Load = 0"},
		{"load below one", func(c *ring.Config) { c.Load = 0.999 }, "Load = 0.999"},
		{"negative load", func(c *ring.Config) { c.Load = -2 }, "Load = -2"},
		{"NaN load", func(c *ring.Config) { c.Load = math.NaN() }, "Load = NaN"},
		{"infinite load", func(c *ring.Config) { c.Load = math.Inf(1) }, "Load = +Inf"},
		{"negative infinite load", func(c *ring.Config) { c.Load = math.Inf(-1) }, "Load = -Inf"},
		{"zero virtual nodes", func(c *ring.Config) { c.VirtualNodes = 0 }, "VirtualNodes = 0"},
		{"negative virtual nodes", func(c *ring.Config) { c.VirtualNodes = -3 }, "VirtualNodes = -3"},
		{"too many virtual nodes", func(c *ring.Config) { c.VirtualNodes = ring.MaxVirtualNodes + 1 }, "VirtualNodes"},
		{"negative backups", func(c *ring.Config) { c.Backups = -1 }, "Backups = -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ring.DefaultConfig()
			tt.edit(&cfg)
			err := cfg.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ring.ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("Validate() = %q, want it to name %q", err, tt.field)
			}
		})
	}
	t.Run("zero config", func(t *testing.T) {
		if err := (ring.Config{}).Validate(); !errors.Is(err, ring.ErrInvalidConfig) {
			t.Fatalf("Config{}.Validate() = %v, want ErrInvalidConfig", err)
		}
	})
}

func TestConfigFingerprint(t *testing.T) {
	base := ring.DefaultConfig()
	if got, want := base.Fingerprint(), "ring1/xxhash64/p1021/l1.25/v20"; got != want {
		t.Fatalf("DefaultConfig().Fingerprint() = %q, want %q", got, want)
	}
	tests := []struct {
		name string
		edit func(*ring.Config)
		same bool
	}{
		{"backups", func(c *ring.Config) { c.Backups = 5 }, true},
		{"partitions", func(c *ring.Config) { c.Partitions = 1031 }, false},
		{"load", func(c *ring.Config) { c.Load = 1.5 }, false},
		{"load ulp", func(c *ring.Config) { c.Load = math.Nextafter(1.25, 2) }, false},
		{"virtual nodes", func(c *ring.Config) { c.VirtualNodes = 21 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.edit(&cfg)
			if same := cfg.Fingerprint() == base.Fingerprint(); same != tt.same {
				t.Errorf("Fingerprint() = %q vs default %q: same = %v, want %v",
					cfg.Fingerprint(), base.Fingerprint(), same, tt.same)
			}
		})
	}
}
