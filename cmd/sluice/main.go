// Command sluice is the node agent and its operator CLI. Every subcommand lives in its own
// file; main only assembles them.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/agent"
)

func main() {
	root := &cobra.Command{
		Use:           "sluice",
		Short:         "PostgreSQL enforcement point for AI agents, CI jobs and containers",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	socket := root.PersistentFlags().String("socket", agent.DefaultControlSocket, "the agent's control socket")
	root.AddCommand(versionCmd(), demoCmd(), agentCmd(), statusCmd(socket), enforceCmd(socket), enrollCmd(socket), approvalsCmd(socket), auditCmd())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "sluice:", err)
		os.Exit(1)
	}
}
