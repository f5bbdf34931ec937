package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/hoard-dev/hoard/client"
	"github.com/spf13/cobra"
)

func newFlushCmd(getenv func(string) string) *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "flush [STORE]",
		Short: "Flush a store (default: every store) on every node now",
		Long: `Flush STORE, or every store, on every live node now, whatever the interval,
and wait for the sinks. Prints what each node flushed. Exits non-zero if any
node failed (its batches then went to its dead-letter: see 'hoard dlq').`,
		Args: cobra.MaximumNArgs(1),
		RunE: f.runE(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			store := ""
			if len(args) == 1 {
				store = args[0]
			}
			nodes, ferr := c.Flush(ctx, store)
			if nodes == nil && ferr != nil {
				return ferr
			}
			out := cmd.OutOrStdout()
			if f.json() {
				if err := writeJSON(out, nodes); err != nil {
					return err
				}
			} else {
				tw := newTable(out)
				fmt.Fprintln(tw, "NODE\tBATCHES\tKEYS\tDEAD-LETTERED\tERROR")
				for _, n := range nodes {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", n.Node, n.Batches, n.Keys, n.DeadLettered, orDash(n.Error))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			if ferr != nil {
				return errors.New("some nodes did not flush everything (see above)")
			}
			return nil
		}),
	}
	f.register(cmd, getenv, true)
	return cmd
}
