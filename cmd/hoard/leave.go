package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hoard-dev/hoard/client"
)

func newLeaveCmd(getenv func(string) string) *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "leave",
		Short: "Make a node leave the cluster gracefully",
		Long: `Make the node at --rpc leave the cluster gracefully, as SIGTERM does: it
announces that it is leaving (peers route its keys elsewhere at once), stops
taking writes, flushes every store (what cannot be delivered goes to the
dead-letter), leaves the gossip and, for an agent, exits 0. Returns once the
node has accepted the request; 'hoard members' shows it as left when done.`,
		Args: cobra.NoArgs,
		RunE: f.runE(func(ctx context.Context, c *client.Client, cmd *cobra.Command, _ []string) error {
			if err := c.Leave(ctx); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "node at %s is leaving\n", f.rpc)
			return nil
		}),
	}
	f.register(cmd, getenv, false)
	return cmd
}
