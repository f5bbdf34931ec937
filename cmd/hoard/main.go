// Command hoard runs a hoard node (`hoard agent`) and talks to one from the
// command line (members, ring, owner, version...).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// run executes the command line args and returns the exit status. Tests call
// it in process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	root := newRootCmd(getenv)
	root.SetArgs(negativeDeltas(args))
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "hoard:", err)
		if e, ok := err.(exitError); ok {
			return e.code
		}
		return 1
	}
	return 0
}

// negativeDeltas lets `hoard incr STORE KEY -5` mean a delta of -5 rather
// than an unknown flag: a negative number among incr's arguments is moved
// behind "--", where flags end.
func negativeDeltas(args []string) []string {
	if len(args) == 0 || args[0] != "incr" || slices.Contains(args, "--") {
		return args
	}
	var rest, nums []string
	for _, a := range args {
		if len(a) > 1 && a[0] == '-' && strings.Trim(a[1:], "0123456789") == "" {
			nums = append(nums, a)
		} else {
			rest = append(rest, a)
		}
	}
	if len(nums) == 0 {
		return args
	}
	return append(append(rest, "--"), nums...)
}

// exitError carries a specific exit status.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

func newRootCmd(getenv func(string) string) *cobra.Command {
	root := &cobra.Command{
		Use:   "hoard",
		Short: "hoard is a clustered write-behind store",
		Long: `hoard is a clustered write-behind store. Writes arrive at any node; consistent
hashing picks each key's owner, which aggregates counters and buffers and
flushes them to sinks (PostgreSQL, files, HTTP) in a few large batches.

Run a node with 'hoard agent --config FILE'. The other commands talk to a
running node's RPC address: --rpc ADDR, or HOARD_RPC_ADDR, default
127.0.0.1:7373.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newAgentCmd(),
		newMembersCmd(getenv),
		newRingCmd(getenv),
		newOwnerCmd(getenv),
		newIncrCmd(getenv),
		newCountCmd(getenv),
		newInsertCmd(getenv),
		newDumpCmd(getenv),
		newInfoCmd(getenv),
		newGetCmd(getenv),
		newSetCmd(getenv),
		newFlushCmd(getenv),
		newDLQCmd(getenv),
		newLeaveCmd(getenv),
		newVersionCmd(getenv),
		newKeygenCmd(),
		newKeyringCmd(getenv),
	)
	return root
}
