package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hoard-dev/hoard/client"
	"github.com/spf13/cobra"
)

func newDLQCmd(getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "List or replay dead-lettered batches",
		Long: `A batch that failed every flush attempt goes to its store's dead-letter, a file
in the node's data_dir. 'hoard dlq list' shows them; 'hoard dlq replay [STORE]'
sends them to the sink again with their original batch IDs and removes each
one only once the sink accepted it. Both act on the node at --rpc.`,
	}
	cmd.AddCommand(newDLQListCmd(getenv), newDLQReplayCmd(getenv))
	return cmd
}

func newDLQListCmd(getenv func(string) string) *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "list [STORE]",
		Short: "List the node's dead-lettered batches",
		Args:  cobra.MaximumNArgs(1),
		RunE: f.runE(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			letters, err := c.DeadLetters(ctx, strings.Join(args, ""))
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.json() {
				return writeJSON(out, letters)
			}
			if len(letters) == 0 {
				fmt.Fprintln(out, "no dead letters")
				return nil
			}
			tw := newTable(out)
			fmt.Fprintln(tw, "STORE\tBATCH\tKEYS\tATTEMPTS\tWHEN\tERROR")
			for _, l := range letters {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", l.Store, l.Batch, l.Keys, l.Attempts, l.Time.Format(time.RFC3339), l.Error)
			}
			return tw.Flush()
		}),
	}
	f.register(cmd, getenv, true)
	return cmd
}

func newDLQReplayCmd(getenv func(string) string) *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "replay [STORE]",
		Short: "Send the node's dead-lettered batches to their sinks again",
		Args:  cobra.MaximumNArgs(1),
		RunE: f.runE(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			res, err := c.ReplayDeadLetters(ctx, strings.Join(args, ""))
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.json() {
				if err := writeJSON(out, res); err != nil {
					return err
				}
			} else {
				for _, id := range res.Replayed {
					fmt.Fprintf(out, "replayed %s\n", id)
				}
				for _, fail := range res.Failed {
					fmt.Fprintf(out, "failed   %s\n", fail)
				}
				if len(res.Replayed)+len(res.Failed) == 0 {
					fmt.Fprintln(out, "no dead letters")
				}
			}
			if len(res.Failed) > 0 {
				return fmt.Errorf("%d batches could not be replayed and stay dead-lettered", len(res.Failed))
			}
			return nil
		}),
	}
	f.register(cmd, getenv, true)
	return cmd
}
