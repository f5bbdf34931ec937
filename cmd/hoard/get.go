package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/hoard-dev/hoard/client"
)

func newGetCmd(getenv func(string) string) *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "get STORE KEY",
		Short: "Read a key of a cache store, loading it on a miss",
		Long: `Print the value of KEY in the cache store STORE. The key's owner answers from
its cache, or loads the value through the store's loader on a miss and caches
it. Exits 1 with "not found" when the loader has no value; a loader failure
is an error naming it. --format json adds whether the value came from the
cache or a load.`,
		Args: cobra.ExactArgs(2),
		RunE: f.runE(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			r, err := c.Fetch(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			if !r.Found {
				return exitError{code: 1, err: fmt.Errorf("%s %q: not found", args[0], args[1])}
			}
			out := cmd.OutOrStdout()
			if f.json() {
				v := map[string]any{"store": args[0], "key": args[1], "loaded": r.Loaded}
				if utf8.Valid(r.Value) {
					v["value"] = string(r.Value)
				} else {
					v["value_b64"] = base64.StdEncoding.EncodeToString(r.Value)
				}
				return writeJSON(out, v)
			}
			if utf8.Valid(r.Value) {
				fmt.Fprintln(out, string(r.Value))
			} else {
				fmt.Fprintln(out, "base64:"+base64.StdEncoding.EncodeToString(r.Value))
			}
			return nil
		}),
	}
	f.register(cmd, getenv, true)
	return cmd
}

func newSetCmd(getenv func(string) string) *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "set STORE KEY VALUE",
		Short: "Store a value in a cache store without the loader",
		Long: `Store VALUE for KEY in the cache store STORE at the key's owner, replacing any
cached value, without calling the loader (DataWorker's direct_set). A VALUE of
"-" is read from standard input, whole (for values too large for the command
line, or binary ones).`,
		Example: `  hoard set users u1 '{"name":"Ada"}'
  hoard set users u1 - < u1.json`,
		Args: cobra.ExactArgs(3),
		RunE: f.runE(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			values, err := valuesFromArgs(cmd.InOrStdin(), args[2:])
			if err != nil {
				return err
			}
			return c.Set(ctx, args[0], args[1], values[0])
		}),
	}
	f.register(cmd, getenv, false)
	return cmd
}
