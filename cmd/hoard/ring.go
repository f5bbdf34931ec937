package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/hoard-dev/hoard/client"
	"github.com/spf13/cobra"
)

func newRingCmd(getenv func(string) string) *cobra.Command {
	f := &clientFlags{}
	var partitions bool
	cmd := &cobra.Command{
		Use:   "ring",
		Short: "Show how partitions are spread over the members",
		Long: `Show the ring of the node at --rpc: its version and checksum, and for each
member the number of partitions it owns and its share of them. With
--partitions, print the whole partition table: each partition's owner and
ordered backups.`,
		Args: cobra.NoArgs,
		RunE: f.runE(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			snap, err := c.Ring(ctx)
			if err != nil {
				return err
			}
			cfg := snap.Config()
			load := snap.Load()
			type memberJSON struct {
				Name       string  `json:"name"`
				Addr       string  `json:"rpc"`
				Partitions int     `json:"partitions"`
				Share      float64 `json:"share"`
			}
			type partitionJSON struct {
				Partition int      `json:"partition"`
				Owner     string   `json:"owner"`
				Backups   []string `json:"backups"`
			}
			var members []memberJSON
			for _, m := range snap.Members() {
				members = append(members, memberJSON{m.Name, m.Addr, load[m.Name], float64(load[m.Name]) / float64(snap.Partitions())})
			}
			var table []partitionJSON
			if partitions {
				for p := range snap.Partitions() {
					var backups []string
					for _, b := range snap.Backups(p) {
						backups = append(backups, b.Name)
					}
					table = append(table, partitionJSON{p, snap.Owner(p).Name, backups})
				}
			}
			out := cmd.OutOrStdout()
			if f.json() {
				return writeJSON(out, map[string]any{
					"version":       snap.Version(),
					"checksum":      fmt.Sprintf("%016x", snap.Checksum()),
					"fingerprint":   snap.Fingerprint(),
					"partitions":    cfg.Partitions,
					"load_factor":   cfg.Load,
					"members":       members,
					"partition_map": table,
				})
			}
			fmt.Fprintf(out, "ring version %d, checksum %016x, %d partitions, load factor %g (%s)\n",
				snap.Version(), snap.Checksum(), cfg.Partitions, cfg.Load, snap.Fingerprint())
			tw := newTable(out)
			fmt.Fprintln(tw, "MEMBER\tRPC\tPARTITIONS\tSHARE")
			for _, m := range members {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f%%\n", m.Name, m.Addr, m.Partitions, 100*m.Share)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if partitions {
				fmt.Fprintln(out)
				tw := newTable(out)
				fmt.Fprintln(tw, "PARTITION\tOWNER\tBACKUPS")
				for _, p := range table {
					fmt.Fprintf(tw, "%d\t%s\t%s\n", p.Partition, p.Owner, orDash(strings.Join(p.Backups, ",")))
				}
				return tw.Flush()
			}
			return nil
		}),
	}
	f.register(cmd, getenv, true)
	cmd.Flags().BoolVar(&partitions, "partitions", false, "print the whole partition table")
	return cmd
}
