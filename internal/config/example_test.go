package config_test

import (
	"errors"
	"fmt"

	"github.com/hoard-dev/hoard/internal/config"
)

func ExampleParse() {
	src := []byte(`
name = "n1"
sink "stdout" "console" {}
counter "pageviews" {
  sink     = "console"
  interval = "10s"
}
`)
	a, err := config.Parse("hoard.hcl", src)
	if err != nil {
		fmt.Println(err)
		return
	}
	s := a.Stores[0]
	fmt.Println(a.Node.Name, a.Node.DataDir, a.Node.HTTPAddr)
	fmt.Println(s.Config.Kind, s.Config.Name, s.Sink, s.Config.Interval, s.Config.Jitter, s.Config.RetryMax)
	// Output:
	// n1 ./data/n1 127.0.0.1:8080
	// counter pageviews console 10s 2s 5
}

func ExampleParse_errors() {
	src := []byte(`
name = "n1"
counter "pageviews" {
  sink     = "out"
  interval = "5 seconds"
  retry    = 3
}
`)
	_, err := config.Parse("hoard.hcl", src)
	fmt.Println(errors.Is(err, config.ErrInvalid))
	fmt.Println(err)
	// Output:
	// true
	// hoard.hcl:4,14: counter "pageviews": sink: no sink named "out" (no sinks are declared)
	// hoard.hcl:5,14: counter "pageviews": interval: invalid duration "5 seconds", want Go syntax such as "5s" or "1m30s"
	// hoard.hcl:6,3: counter "pageviews": Unsupported argument; An argument named "retry" is not expected here.
}

func ExampleAgent_Validate() {
	// Flags alone, without a file.
	a := config.Default()
	a.Node.Name = "n2"
	a.Node.RPCAddr = "127.0.0.1" // a bad --rpc value
	fmt.Println(a.Validate())
	a.Node.RPCAddr = "127.0.0.1:7374"
	fmt.Println(a.Validate(), a.Node.DataDir)
	// Output:
	// rpc_addr: invalid address "127.0.0.1": missing port in address, want host:port
	// <nil> ./data/n2
}
