// Command sluice is the node agent and its operator CLI. Every subcommand lives in its own
// file; main only assembles them.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{
		Use:           "sluice",
		Short:         "PostgreSQL enforcement point for AI agents, CI jobs and containers",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(versionCmd(), demoCmd())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "sluice:", err)
		os.Exit(1)
	}
}
