package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/hoard-dev/hoard/client"
	"github.com/spf13/cobra"
)

func newIncrCmd(getenv func(string) string) *cobra.Command {
	f := &clientFlags{}
	var async bool
	cmd := &cobra.Command{
		Use:   "incr STORE KEY [DELTA]",
		Short: "Add DELTA (default 1) to a counter",
		Long: `Add DELTA (an integer, default 1, may be negative) to KEY of the counter store
STORE, through the node at --rpc, which forwards it to the key's owner. It
returns once the owner has applied it; with --async it returns once sent (the
receiving node aggregates async increments and sends them on within ~50ms).`,
		Example: `  hoard incr pageviews /home
  hoard incr pageviews /home 5 --rpc 127.0.0.1:7374`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.RangeArgs(2, 3)(cmd, args); err != nil {
				return err
			}
			if len(args) == 3 {
				if _, err := strconv.ParseInt(args[2], 10, 64); err != nil {
					return fmt.Errorf("DELTA %q: not an integer in the int64 range", args[2])
				}
			}
			return nil
		},
		RunE: f.runE(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			delta := int64(1)
			if len(args) == 3 {
				delta, _ = strconv.ParseInt(args[2], 10, 64) // checked by Args
			}
			if async {
				if err := c.IncrAsync(ctx, args[0], args[1], delta); err != nil {
					return err
				}
				// Wait for the node's answer so a refusal is still reported.
				_, err := c.Status(ctx)
				if n, aerr := c.AsyncFailures(); err == nil && n > 0 {
					return aerr
				}
				return err
			}
			return c.Incr(ctx, args[0], args[1], delta)
		}),
	}
	f.register(cmd, getenv, false)
	cmd.Flags().BoolVar(&async, "async", false, "send without waiting for the owner")
	return cmd
}

func newCountCmd(getenv func(string) string) *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "count STORE KEY",
		Short: "Print a counter's unflushed delta",
		Long: `Print the delta KEY of the counter store STORE holds at its owner, not yet
flushed to the sink (0 when none). It is not the total in the sink.`,
		Args: cobra.ExactArgs(2),
		RunE: f.runE(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			n, err := c.Count(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			if f.json() {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"store": args[0], "key": args[1], "count": n})
			}
			fmt.Fprintln(cmd.OutOrStdout(), n)
			return nil
		}),
	}
	f.register(cmd, getenv, true)
	return cmd
}
