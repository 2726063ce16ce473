package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/agent"
)

func statusCmd(socket *string) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the agent's cgroup modes, kernel counters and live sessions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := agent.NewClient(*socket).Status(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			return printStatus(cmd.OutOrStdout(), st)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

func printStatus(out io.Writer, st *agent.Status) error {
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintf(w, "sluice %s (pid %d), attached at %s, ports %v -> proxy port %d\n",
		st.Version, st.PID, st.AttachRoot, st.Ports, st.ProxyPort)
	c := st.Counters
	fmt.Fprintf(w, "connects: %d redirected, %d refused, %d passed, %d ambiguous; origin map: %d sockets\n\n",
		c.Redirected, c.Refused, c.Passed, c.Ambiguous, c.Origins)
	fmt.Fprintln(w, "CGROUP\tMODE")
	for _, m := range st.Modes {
		fmt.Fprintf(w, "%s\t%s\n", m.Cgroup, m.Mode)
	}
	for _, m := range st.Modes {
		if m.Warning != "" {
			fmt.Fprintf(w, "warning: %s\n", m.Warning)
		}
	}
	fmt.Fprintln(w, "\nENROLLED CGROUP\tSUBJECT\tGROUPS\tISSUER\tEXPIRES")
	for _, e := range st.Enrollments {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", e.Cgroup, e.Subject, strings.Join(e.Groups, ","), e.Issuer, e.Expiry)
	}
	fmt.Fprintln(w, "\nSESSION\tCGROUP\tPID\tMODE\tSUBJECT\tGROUPS\tDESTINATION\tTARGET\tDATABASE\tRUNS AS\tSTARTED")
	for _, s := range st.Sessions {
		subject := s.Subject
		if s.Unverified != "" {
			subject = "(unverified)"
		}
		runsAs := s.DatabaseUser
		if runsAs == "" {
			runsAs = "(target's user)"
		} else if s.DatabaseRole != "" && s.DatabaseRole != s.DatabaseUser {
			runsAs += " as " + s.DatabaseRole
		}
		fmt.Fprintf(w, "%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Cgroup, s.PID, s.Mode, subject,
			strings.Join(s.Groups, ","), s.Destination, s.Target, s.Database, runsAs, s.Started)
	}
	return w.Flush()
}
