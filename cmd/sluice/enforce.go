package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/agent"
)

func enforceCmd(socket *string) *cobra.Command {
	var mode string
	cmd := &cobra.Command{
		Use:   "enforce CGROUP",
		Short: "Set a cgroup's mode: enforce, audit, off (or unset to inherit again)",
		Long: `Set the explicit mode of a cgroup; its descendants inherit it unless they have their own.
CGROUP is a cgroup path, absolute or relative to the cgroup2 mount (as /proc/PID/cgroup shows it).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ms, err := agent.NewClient(*socket).SetMode(cmd.Context(), args[0], mode)
			if err != nil {
				return err
			}
			if ms.Warning != "" {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+ms.Warning)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", ms.Cgroup, ms.Mode)
			return err
		},
	}
	cmd.Flags().StringVar(&mode, "mode", "enforce", "enforce, audit, off or unset")
	return cmd
}
