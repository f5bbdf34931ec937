package main

import (
	"context"
	"fmt"

	"github.com/hoard-dev/hoard/client"
	"github.com/spf13/cobra"
)

func newMembersCmd(getenv func(string) string) *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "members",
		Short: "List the cluster's members as one node sees them",
		Long: `List the members the node at --rpc knows: name, liveness (alive, failed, left),
state (alive, leaving), addresses and the partitions each owns in that node's
ring. Failed and departed members stay listed for an hour. STORES is a digest
of the stores each member declares: every member should show the same.`,
		Args: cobra.NoArgs,
		RunE: f.runE(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			members, err := c.Members(ctx)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.json() {
				return writeJSON(out, members)
			}
			tw := newTable(out)
			fmt.Fprintln(tw, "NAME\tSTATUS\tSTATE\tGOSSIP\tRPC\tHTTP\tPARTITIONS\tVERSION\tSTORES")
			for _, m := range members {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%.8s\n", m.Name, m.Status, m.State, m.GossipAddr, m.RPCAddr, orDash(m.HTTPAddr), m.Partitions, m.Version, orDash(m.Stores))
			}
			return tw.Flush()
		}),
	}
	f.register(cmd, getenv, true)
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
