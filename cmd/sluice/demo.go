package main

import (
	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/demo"
)

func demoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Show sluice on this machine, self-contained (root); leaves nothing behind",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return demo.Run(cmd.Context(), cmd.OutOrStdout())
		},
	}
}
