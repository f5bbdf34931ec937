package flush_test

import (
	"context"
	"errors"
	"testing"

	"github.com/hoard-dev/hoard/internal/flush"
	"github.com/hoard-dev/hoard/sinks"
)

func TestInvalidConfig(t *testing.T) {
	tests := []struct {
		name string
		edit func(*flush.Config)
	}{
		{"no store", func(c *flush.Config) { c.Store = "" }},
		{"no sink", func(c *flush.Config) { c.Sink = nil }},
		{"zero retry max", func(c *flush.Config) { c.RetryMax = 0 }},
		{"zero retry delay", func(c *flush.Config) { c.RetryDelay = 0 }},
		{"no dead-letter", func(c *flush.Config) { c.DeadLetters = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg flush.Config
			e := newEnv(t, sinks.NewMemory(), func(c *flush.Config) { tt.edit(c); cfg = *c })
			if err := cfg.Validate(); !errors.Is(err, flush.ErrInvalidConfig) {
				t.Fatalf("Validate: %v, want ErrInvalidConfig", err)
			}
			e.src.add("a")
			if _, err := e.p.Flush(context.Background(), flush.All, nil); !errors.Is(err, flush.ErrInvalidConfig) {
				t.Errorf("Flush: %v, want ErrInvalidConfig", err)
			}
			if _, _, err := e.p.Replay(context.Background()); !errors.Is(err, flush.ErrInvalidConfig) {
				t.Errorf("Replay: %v, want ErrInvalidConfig", err)
			}
			if modes, _ := e.src.takeCalls(); len(modes) != 0 {
				t.Errorf("took from the source: %v", modes)
			}
		})
	}
	var valid flush.Config
	newEnv(t, sinks.NewMemory(), func(c *flush.Config) { valid = *c })
	if err := valid.Validate(); err != nil {
		t.Errorf("Validate(test config): %v", err)
	}
}
