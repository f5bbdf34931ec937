package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hoard-dev/hoard/client"
)

func newKeyringCmd(getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keyring",
		Short: "List or rotate the gossip encryption keys of every member",
		Long: `List or change the gossip encryption keyring on every live member at once
(they must run with 'encrypt' set). Each member keeps its keyring in its data
dir, so a restarted member still gets in. Needs an admin token when tokens are
on.

Rotation without downtime:
  hoard keyring install NEW   # every member accepts NEW
  hoard keyring use NEW       # every member encrypts with NEW
  hoard keyring remove OLD    # OLD is refused from now on`,
	}
	cmd.AddCommand(
		keyringOpCmd(getenv, "list", "List each member's keys and its primary key", 0),
		keyringOpCmd(getenv, "install", "Add KEY to every member's keyring", 1),
		keyringOpCmd(getenv, "use", "Make KEY, installed everywhere, the key every member encrypts with", 1),
		keyringOpCmd(getenv, "remove", "Remove KEY, no longer primary anywhere, from every member's keyring", 1),
	)
	return cmd
}

func keyringOpCmd(getenv func(string) string, op, short string, nargs int) *cobra.Command {
	f := &clientFlags{}
	use := op
	if nargs == 1 {
		use += " KEY"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(nargs),
		RunE: f.runE(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			key := ""
			if nargs == 1 {
				key = args[0]
			}
			nodes, kerr := c.Keyring(ctx, op, key)
			if nodes == nil && kerr != nil {
				return kerr
			}
			out := cmd.OutOrStdout()
			if f.json() {
				if err := writeJSON(out, nodes); err != nil {
					return err
				}
			} else {
				tw := newTable(out)
				fmt.Fprintln(tw, "NODE\tPRIMARY\tKEYS\tERROR")
				for _, n := range nodes {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Node, orDash(n.Primary), orDash(strings.Join(n.Keys, ",")), orDash(n.Error))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			if kerr != nil {
				return errors.New("the keyring operation failed on some members (see above)")
			}
			return nil
		}),
	}
	f.register(cmd, getenv, true)
	return cmd
}
