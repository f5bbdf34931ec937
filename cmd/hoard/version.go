package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoard-dev/hoard/client"
	"github.com/hoard-dev/hoard/node"
)

func newVersionCmd(getenv func(string) string) *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print hoard's version, and the node's if one is reachable",
		Long: `Print the version of this hoard binary and, when a node answers at --rpc,
the node's name and version. An unreachable node is not an error here.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.format != "text" && f.format != "json" {
				return fmt.Errorf("--format %q: must be text or json", f.format)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), min(f.timeout, 2*time.Second))
			defer cancel()
			var st *client.Status
			cfg, err := f.config()
			if err != nil {
				return err
			}
			if c, err := client.DialConfig(ctx, cfg); err == nil {
				if s, err := c.Status(ctx); err == nil {
					st = &s
				}
				_ = c.Close()
			}
			out := cmd.OutOrStdout()
			if f.json() {
				v := map[string]any{"client": node.Version}
				if st != nil {
					v["server"] = map[string]any{"name": st.Name, "version": st.Version, "cluster": st.Cluster}
				}
				return writeJSON(out, v)
			}
			fmt.Fprintf(out, "hoard %s\n", node.Version)
			if st != nil {
				fmt.Fprintf(out, "node %s (cluster %s) at %s: hoard %s\n", st.Name, st.Cluster, f.rpc, st.Version)
			}
			return nil
		},
	}
	f.register(cmd, getenv, true)
	return cmd
}
