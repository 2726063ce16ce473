package main

import (
	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/agent"
)

func agentCmd() *cobra.Command {
	var (
		config    string
		uninstall bool
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the node agent (or remove everything it installed, with --uninstall)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if uninstall {
				return agent.Uninstall(config)
			}
			return agent.Run(cmd.Context(), config, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&config, "config", "/etc/sluice/sluice.yaml", "configuration file")
	cmd.Flags().BoolVar(&uninstall, "uninstall", false, "detach the programs and remove pins and the control socket")
	return cmd
}
