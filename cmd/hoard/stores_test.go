package main

import (
	"context"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/hoard-dev/hoard/internal/config"
	"github.com/hoard-dev/hoard/node"
)

// TestBuildStoresKeepsTheNodesMeaning checks that the agent hands the node
// the file's settings untranslated: left out is the node's default, "none"
// is the node's none, and the loader's timeout is the store's.
func TestBuildStoresKeepsTheNodesMeaning(t *testing.T) {
	src := `
name = "n"
sink "stdout" "out" {}
counter "defaults" { sink = "out" }
buffer "off" {
  sink          = "out"
  interval      = "10s"
  jitter        = "none"
  retry_max     = 1
  flush_timeout = "none"
  max_size      = 100
  max_bytes     = "none"
}
cache "users" {
  ttl = "1h"
  loader "http" {
    url     = "http://127.0.0.1:9/users/{key}"
    timeout = "3s"
  }
}
cache "plain" {
  loader "http" { url = "http://127.0.0.1:9/{key}" }
}
`
	a, err := config.Parse("stores.hcl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	stores, closer, err := buildStores(context.Background(), a, io.Discard, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closer.Close() })

	named := func(kind node.StoreKind, name string, mod func(*node.StoreConfig)) node.StoreConfig {
		c := node.DefaultStoreConfig(kind)
		c.Name = name
		if mod != nil {
			mod(&c)
		}
		return c
	}
	want := []node.StoreConfig{
		named(node.KindCounter, "defaults", nil),
		named(node.KindBuffer, "off", func(c *node.StoreConfig) {
			c.Interval, c.Jitter, c.RetryMax, c.FlushTimeout, c.MaxSize, c.MaxBytes = 10*time.Second, -1, 1, -1, 100, -1
		}),
		named(node.KindCache, "users", func(c *node.StoreConfig) { c.TTL, c.LoadTimeout = time.Hour, 3*time.Second }),
		named(node.KindCache, "plain", nil),
	}
	if len(stores) != len(want) {
		t.Fatalf("built %d stores, want %d", len(stores), len(want))
	}
	for i, got := range stores {
		if err := got.Validate(); err != nil {
			t.Errorf("store %d: node refuses it: %v", i, err)
		}
		if (got.Kind == node.KindCache) != (got.Loader != nil) || (got.Kind != node.KindCache) != (got.Sink != nil) {
			t.Errorf("store %q: sink %v, loader %v", got.Name, got.Sink, got.Loader)
		}
		got.Sink, got.Loader = nil, nil
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("store %d:\n%+v\nwant\n%+v", i, got, want[i])
		}
	}
}
