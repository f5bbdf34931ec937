package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/hoard-dev/hoard/client"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/spf13/cobra"
)

func newInsertCmd(getenv func(string) string) *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "insert STORE KEY VALUE...",
		Short: "Append values to a buffer",
		Long: `Append each VALUE, in order, to KEY of the buffer store STORE, through the node
at --rpc, which forwards them to the key's owner. Returns once the owner holds
them; they reach the sink, in order, when the key flushes. A VALUE of "-" is read from
standard input, whole (for values too large for the command line, or binary
ones); "-" may be given once.`,
		Example: `  hoard insert events u1 login
  hoard insert events u1 '{"page":"/home"}' '{"page":"/docs"}'
  hoard insert events u1 - < event.json`,
		Args: cobra.MinimumNArgs(3),
		RunE: f.runE(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			values, err := valuesFromArgs(cmd.InOrStdin(), args[2:])
			if err != nil {
				return err
			}
			return c.Insert(ctx, args[0], args[1], values...)
		}),
	}
	f.register(cmd, getenv, false)
	return cmd
}

// valuesFromArgs returns the values of a command's VALUE arguments; a "-"
// stands for standard input, read whole, at most once and bounded by the
// largest insert a node takes.
func valuesFromArgs(stdin io.Reader, args []string) ([][]byte, error) {
	values := make([][]byte, len(args))
	read := false
	for i, a := range args {
		if a != "-" {
			values[i] = []byte(a)
			continue
		}
		if read {
			return nil, errors.New(`"-" (standard input) may stand for one value only`)
		}
		read = true
		b, err := io.ReadAll(io.LimitReader(stdin, op.MaxInsertBytes+1))
		if err != nil {
			return nil, fmt.Errorf("read the value from standard input: %w", err)
		}
		if len(b) > op.MaxInsertBytes {
			return nil, fmt.Errorf("the value on standard input is larger than %d bytes, the most a node takes", op.MaxInsertBytes)
		}
		values[i] = b
	}
	return values, nil
}

func newDumpCmd(getenv func(string) string) *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "dump STORE KEY",
		Short: "Print the values a buffer key holds, without removing them",
		Long: `Print the values KEY of the buffer store STORE holds at its owner, not yet
flushed, oldest first, one per line (JSON: strings, or base64 under
"values_b64" when a value is not valid UTF-8).`,
		Args: cobra.ExactArgs(2),
		RunE: f.runE(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			values, err := c.Dump(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			text := true
			for _, v := range values {
				text = text && utf8.Valid(v)
			}
			if f.json() {
				strs := make([]string, len(values))
				for i, v := range values {
					if text {
						strs[i] = string(v)
					} else {
						strs[i] = base64.StdEncoding.EncodeToString(v)
					}
				}
				field := "values"
				if !text {
					field = "values_b64"
				}
				return writeJSON(out, map[string]any{"store": args[0], "key": args[1], field: strs})
			}
			for _, v := range values {
				if utf8.Valid(v) {
					fmt.Fprintln(out, string(v))
				} else {
					fmt.Fprintln(out, "base64:"+base64.StdEncoding.EncodeToString(v))
				}
			}
			return nil
		}),
	}
	f.register(cmd, getenv, true)
	return cmd
}

func newInfoCmd(getenv func(string) string) *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "info [STORE]",
		Short: "Show what each node holds and has flushed, per store",
		Long: `Show, for every live node and each store (or STORE): keys and values (buffers)
or increments (counters) held and not yet flushed, bytes held (buffers,
batches being flushed included), batches flushed, failed attempts, batches
dead-lettered and the last flush. UNFLUSHED is the node's total of
acknowledged ops not yet flushed: what a crash of that node would lose now,
but for the stores with ack = "wal" or "replicated", whose ops its
write-ahead log holds (WAL: the log's size on that node, in bytes) until
their sink has them. REPLICA is the ops the node holds for the members it
backs up (ack = "replicated"); FAILOVERS the failover flushes it did (the
ops of a member declared failed, delivered under that member's name), with
the last one's time.`,
		Args: cobra.MaximumNArgs(1),
		RunE: f.runE(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			store := ""
			if len(args) == 1 {
				store = args[0]
			}
			nodes, err := c.Info(ctx, store)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.json() {
				return writeJSON(out, nodes)
			}
			tw := newTable(out)
			fmt.Fprintln(tw, "NODE\tUNFLUSHED\tWAL\tREPLICA\tFAILOVERS\tSTORE\tKIND\tKEYS\tVALUES\tBYTES\tFLUSHES\tFAILED\tDEAD-LETTERED\tLAST FLUSH")
			for _, n := range nodes {
				if n.Error != "" {
					fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\terror: %s\n", n.Node, n.Error)
					continue
				}
				failovers := fmt.Sprint(n.Failovers)
				if !n.LastFailover.IsZero() {
					failovers += " (last " + n.LastFailover.Format(time.RFC3339) + ")"
				}
				for _, s := range n.Stores {
					last := "-"
					if !s.LastFlush.IsZero() {
						last = s.LastFlush.Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", n.Node, n.Unflushed, n.WALBytes, n.ReplicaOps, failovers, s.Store, s.Kind,
						s.Keys, s.Values, s.Bytes, s.Flushes, s.Failures, s.DeadLettered, last)
				}
			}
			return tw.Flush()
		}),
	}
	f.register(cmd, getenv, true)
	return cmd
}
