package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/hoard-dev/hoard/client"
	"github.com/spf13/cobra"
)

func newOwnerCmd(getenv func(string) string) *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "owner STORE KEY",
		Short: "Show which node owns a key",
		Long: `Show where KEY of STORE lives in the ring of the node at --rpc: its partition,
the owner that aggregates and flushes it, and the partition's ordered backups.
Every node of a converged cluster gives the same answer.`,
		Args: cobra.ExactArgs(2),
		RunE: f.runE(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			pl, err := c.Owner(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			var backups []string
			for _, b := range pl.Backups {
				backups = append(backups, b.Name)
			}
			out := cmd.OutOrStdout()
			if f.json() {
				return writeJSON(out, map[string]any{
					"store":        args[0],
					"key":          args[1],
					"partition":    pl.Partition,
					"owner":        pl.Owner.Name,
					"owner_rpc":    pl.Owner.Addr,
					"backups":      backups,
					"ring_version": pl.RingVersion,
				})
			}
			fmt.Fprintf(out, "partition  %d\nowner      %s (%s)\nbackups    %s\nring       version %d\n",
				pl.Partition, pl.Owner.Name, pl.Owner.Addr, orDash(strings.Join(backups, ", ")), pl.RingVersion)
			return nil
		}),
	}
	f.register(cmd, getenv, true)
	return cmd
}
