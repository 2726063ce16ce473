package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/agent"
)

func approvalsCmd(socket *string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "approvals",
		Short: "List, approve or deny statements held by review rules",
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the held statements",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reqs, err := agent.NewClient(*socket).Approvals(cmd.Context())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tSUBJECT\tCGROUP\tRULE\tEXPIRES IN\tSTATEMENT")
			for _, r := range reqs {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Subject, r.Cgroup, r.Rule,
					time.Until(r.Expires).Round(time.Second), oneLine(r.Text, 80))
			}
			return w.Flush()
		},
	}
	decide := func(approve bool) *cobra.Command {
		var reason string
		use, short := "deny ID", "Deny a held statement (the denial is sticky for that statement in its session)"
		if approve {
			use, short = "approve ID", "Let a held statement run, once"
		}
		c := &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				r, err := agent.NewClient(*socket).Decide(cmd.Context(), args[0], approve, reason)
				if err != nil {
					return err
				}
				verb := "denied"
				if approve {
					verb = "approved"
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %s\n", verb, r.ID, oneLine(r.Text, 80))
				return err
			},
		}
		c.Flags().StringVar(&reason, "reason", "", "why (recorded in the audit log, shown to the client on deny)")
		return c
	}
	cmd.AddCommand(list, decide(true), decide(false))
	return cmd
}

func oneLine(s string, n int) string {
	b := []rune(s)
	for i, r := range b {
		if r == '\n' || r == '\t' {
			b[i] = ' '
		}
	}
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
