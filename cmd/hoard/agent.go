package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/hoard-dev/hoard/internal/config"
	"github.com/hoard-dev/hoard/node"
)

func newAgentCmd() *cobra.Command {
	var (
		configPath   string
		name         string
		bind         string
		advertise    string
		rpc          string
		httpAddr     string
		respAddr     string
		join         []string
		dataDir      string
		leaveTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a hoard node",
		Long: `Run a hoard node: gossip on bind_addr, RPC for clients and peers on rpc_addr,
/healthz and /readyz on http_addr, and, when resp_addr is set, the Redis
protocol for any Redis client (redis-cli -p 6380 INCRBY pageviews:/home 5). Settings come from --config (HCL, or JSON
for a .json file) and the flags below override them.

SIGINT or SIGTERM makes the node leave the cluster gracefully and exit 0; a
second signal exits at once. SIGHUP reads the TLS certificates, key and CAs
again (new connections get them; open ones carry on).`,
		Example: `  hoard agent --config n1.hcl
  hoard agent --name n2 --bind 127.0.0.1:7947 --rpc 127.0.0.1:7374 --http 127.0.0.1:8081 --join 127.0.0.1:7946`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a := config.Default()
			if configPath != "" {
				parsed, err := config.Load(configPath)
				if err != nil {
					return err
				}
				a = *parsed
			}
			n := &a.Node
			flags := cmd.Flags()
			if flags.Changed("name") {
				// A data dir derived from the file's name follows the new name,
				// so nodes sharing one file do not share a directory.
				if n.DataDir == config.DefaultDataDir(n.Name) {
					n.DataDir = ""
				}
				n.Name = name
			}
			if n.Name == "" {
				host, err := os.Hostname()
				if err != nil {
					return fmt.Errorf("no --name given and the host name is unknown: %w", err)
				}
				n.Name = host
			}
			if flags.Changed("bind") {
				n.BindAddr = bind
			}
			if flags.Changed("advertise") {
				n.AdvertiseAddr = advertise
			}
			if flags.Changed("rpc") {
				n.RPCAddr = rpc
			}
			if flags.Changed("http") {
				n.HTTPAddr = httpAddr
			}
			if flags.Changed("resp") {
				n.RESPAddr = respAddr
			}
			if flags.Changed("join") {
				n.Join = join
			}
			if flags.Changed("data-dir") {
				n.DataDir = dataDir
			}
			if n.DataDir == "" {
				n.DataDir = config.DefaultDataDir(n.Name)
			}
			if leaveTimeout <= 0 {
				return fmt.Errorf("--leave-timeout %s: must be positive", leaveTimeout)
			}
			n.LeaveTimeout = leaveTimeout
			if err := a.Validate(); err != nil {
				return err
			}
			return runAgent(cmd.Context(), &a, cmd.OutOrStdout())
		},
	}
	d := config.Default().Node
	f := cmd.Flags()
	f.StringVarP(&configPath, "config", "c", "", "configuration file (HCL, or JSON with a .json name)")
	f.StringVar(&name, "name", "", "node name, unique in the cluster (default: name in the file, else the host name)")
	f.StringVar(&bind, "bind", "", "gossip address host:port, TCP and UDP (default "+d.BindAddr+")")
	f.StringVar(&advertise, "advertise", "", "gossip address host:port peers use, when it differs from --bind (a container's or pod's IP); a wildcard RPC or HTTP address is advertised at its host")
	f.StringVar(&rpc, "rpc", "", "RPC address host:port for clients and peers (default "+d.RPCAddr+")")
	f.StringVar(&httpAddr, "http", "", `HTTP address for /healthz and /readyz; "" disables (default `+d.HTTPAddr+")")
	f.StringVar(&respAddr, "resp", "", `RESP (Redis protocol) address host:port for Redis clients, keys "STORE:KEY"; "" disables (default off)`)
	f.StringSliceVar(&join, "join", nil, "gossip address of a node to join; repeat or comma-separate for several")
	f.StringVar(&dataDir, "data-dir", "", "directory for the node's files (default ./data/NAME)")
	f.DurationVar(&leaveTimeout, "leave-timeout", d.LeaveTimeout, "how long a graceful leave may take on SIGINT/SIGTERM or hoard leave")
	return cmd
}

// runAgent starts the node and runs it until a signal.
func runAgent(ctx context.Context, a *config.Agent, stdout io.Writer) error {
	logger := hclog.New(&hclog.LoggerOptions{
		Name:   a.Node.Name,
		Level:  hclog.LevelFromString(a.LogLevel),
		Output: os.Stderr,
	})
	if err := os.MkdirAll(a.Node.DataDir, 0o755); err != nil {
		return fmt.Errorf("data_dir %s: %w", a.Node.DataDir, err)
	}
	stores, sinkCloser, err := buildStores(ctx, a, stdout, logger)
	if err != nil {
		return err
	}
	defer sinkCloser.Close()
	m := newMetrics()
	cfg := a.Node
	cfg.Stores = stores
	cfg.HTTPRoutes = map[string]http.Handler{"GET /metrics": m.handler()}
	cfg.Logger = logger
	leaveTimeout := cfg.LeaveTimeout

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	n, err := node.Start(startCtx, &cfg)
	cancel()
	if err != nil {
		return err
	}
	m.n.Store(n)

	hups := make(chan os.Signal, 1)
	signal.Notify(hups, syscall.SIGHUP)
	defer signal.Stop(hups)
	var sig os.Signal
wait:
	for {
		select {
		case <-hups:
			// Certificates renewed on disk: new connections get them.
			if err := n.ReloadTLS(); err != nil {
				logger.Error("SIGHUP: keeping the TLS certificates in use", "error", err)
			}
		case sig = <-sigs:
			break wait
		case <-ctx.Done():
			break wait
		case <-n.Done():
			// `hoard leave` made the node leave; it has flushed and stopped.
			logger.Info("node left the cluster on request; exiting")
			return n.LeaveErr()
		}
	}
	logger.Info("leaving on signal; send another to exit at once", "signal", sig, "timeout", leaveTimeout)
	left := make(chan struct{})
	defer close(left)
	go func() {
		select {
		case s := <-sigs:
			logger.Warn("second signal: exiting without finishing the leave", "signal", s)
			os.Exit(1)
		case <-left:
		}
	}()
	leaveCtx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	defer cancel()
	err = n.Leave(leaveCtx)
	// A leave already under way (a `hoard leave`) is bounded by the same
	// timeout: let it finish before the sinks close and the process exits.
	<-n.Done()
	if err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	return n.LeaveErr()
}
