package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoard-dev/hoard/client"
	"github.com/hoard-dev/hoard/internal/tlsconf"
)

// defaultRPCAddr is where client commands look for a node by default.
const defaultRPCAddr = "127.0.0.1:7373"

// clientFlags are the flags every client command takes.
type clientFlags struct {
	rpc     string
	format  string
	timeout time.Duration
	token   string
	caFile  string
	cert    string
	key     string
}

// register adds the client flags to cmd, bound to f.
func (f *clientFlags) register(cmd *cobra.Command, getenv func(string) string, withFormat bool) {
	def := getenv("HOARD_RPC_ADDR")
	if def == "" {
		def = defaultRPCAddr
	}
	cmd.Flags().StringVar(&f.rpc, "rpc", def, "RPC address (host:port) of the node to talk to; env HOARD_RPC_ADDR")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 10*time.Second, "how long to wait for the node")
	cmd.Flags().StringVar(&f.token, "token", getenv("HOARD_TOKEN"), "token to present when the nodes declare tokens; env HOARD_TOKEN (prefer the env: a flag shows in ps)")
	cmd.Flags().StringVar(&f.caFile, "ca-file", getenv("HOARD_CA_FILE"), "speak TLS, verifying the node against this CA bundle (PEM); env HOARD_CA_FILE")
	cmd.Flags().StringVar(&f.cert, "cert-file", getenv("HOARD_CERT_FILE"), "client certificate (PEM) for mutual TLS; env HOARD_CERT_FILE")
	cmd.Flags().StringVar(&f.key, "key-file", getenv("HOARD_KEY_FILE"), "the client certificate's private key (PEM); env HOARD_KEY_FILE")
	if withFormat {
		cmd.Flags().StringVar(&f.format, "format", "text", "output format: text or json")
	}
}

// config is the client configuration the flags describe: the node's
// address, the token, and TLS when a CA file is given. One op per run: the
// node forwards it to the key's owner. A ring-aware client would fetch the
// ring and dial the owner at its advertised address, which the CLI's host
// may not reach (a container's IP behind a published port) and which costs
// more round trips than the hop.
func (f *clientFlags) config() (client.Config, error) {
	cfg := client.Config{Addrs: []string{f.rpc}, Token: f.token, Forward: true}
	if f.caFile != "" || f.cert != "" || f.key != "" {
		if f.caFile == "" {
			return cfg, errors.New("--cert-file and --key-file need --ca-file (HOARD_CA_FILE) too: the CA that signed the node's certificate")
		}
		tc, err := tlsconf.ClientFromFiles(f.caFile, f.cert, f.key)
		if err != nil {
			return cfg, err
		}
		cfg.TLS = tc
	}
	return cfg, nil
}

// dial validates the flags and connects to the node.
func (f *clientFlags) dial(ctx context.Context) (*client.Client, context.Context, context.CancelFunc, error) {
	if f.format != "" && f.format != "text" && f.format != "json" {
		return nil, nil, nil, fmt.Errorf("--format %q: must be text or json", f.format)
	}
	if f.timeout <= 0 {
		return nil, nil, nil, fmt.Errorf("--timeout %s: must be positive", f.timeout)
	}
	cfg, err := f.config()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	c, err := client.DialConfig(ctx, cfg)
	switch {
	case errors.Is(err, client.ErrUnauthorized):
		cancel()
		return nil, nil, nil, fmt.Errorf("the node at %s refused this client (check --token / HOARD_TOKEN): %w", f.rpc, err)
	case err != nil:
		cancel()
		return nil, nil, nil, fmt.Errorf("cannot reach a hoard node at %s (is the agent running? set --rpc or HOARD_RPC_ADDR; does it want TLS: --ca-file?): %w", f.rpc, err)
	}
	return c, ctx, cancel, nil
}

func (f *clientFlags) json() bool { return f.format == "json" }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes aligned columns; call flush when done.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// runE adapts a command body that needs a connected client: it dials the
// node named by the flags, runs body under the --timeout context and closes
// the connection.
func (f *clientFlags) runE(body func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, ctx, cancel, err := f.dial(cmd.Context())
		if err != nil {
			return err
		}
		defer cancel()
		defer c.Close()
		return body(ctx, c, cmd, args)
	}
}
