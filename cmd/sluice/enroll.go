package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/agent"
)

func enrollCmd(socket *string) *cobra.Command {
	var tokenFile, token string
	cmd := &cobra.Command{
		Use:   "enroll CGROUP (--token-file FILE | --token -)",
		Short: "Bind a workload's OIDC token to a cgroup (for CI runner hooks)",
		Long: `Verify an OIDC token (e.g. the CI job's id token) and bind the identity to a cgroup and
its descendants, until the token expires or the cgroup goes away. Re-enrolling with a fresh
token before expiry keeps live sessions going.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tok, err := readToken(cmd.InOrStdin(), tokenFile, token)
			if err != nil {
				return err
			}
			e, err := agent.NewClient(*socket).Enroll(cmd.Context(), args[0], tok)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: %s (issuer %s, groups %v) until %s\n", e.Cgroup, e.Subject, e.Issuer, e.Groups, e.Expiry)
			return err
		},
	}
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "file holding the token")
	cmd.Flags().StringVar(&token, "token", "", `"-" to read the token from standard input`)
	return cmd
}

// readToken takes the token from a file or stdin, never from the command line, where any
// user on the machine could read it in the process list.
func readToken(stdin io.Reader, file, flag string) (string, error) {
	var b []byte
	var err error
	switch {
	case file != "" && flag != "":
		return "", errors.New("use --token-file or --token -, not both")
	case file != "":
		b, err = os.ReadFile(file)
	case flag == "-":
		b, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
	case flag != "":
		return "", errors.New(`--token only accepts "-" (read standard input): a token on the command line is visible to every user`)
	default:
		return "", errors.New("give the token with --token-file FILE or --token -")
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
