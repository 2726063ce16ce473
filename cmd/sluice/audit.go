package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/audit"
)

// auditCmd groups the operator commands on the audit log. They read the segment files
// directly, so they work on a live agent's log, a stopped one, or a shipped copy.
func auditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify and read the tamper-evident audit log",
	}
	cmd.AddCommand(auditVerifyCmd(), auditShowCmd(), auditTailCmd(), auditKeygenCmd())
	return cmd
}

func auditVerifyCmd() *cobra.Command {
	var pubkeys []string
	var opts audit.VerifyOptions
	cmd := &cobra.Command{
		Use:   "verify PATH... --pubkey FILE",
		Short: "Check the hash chain and checkpoint signatures; report the first problem with its position",
		Long: `Verify checks every record's link to its predecessor, every checkpoint's signature and
the checkpoint chain, and reports the first modified, deleted, inserted or reordered record,
swapped or missing segments, and truncation as far as it is detectable (see docs/audit.md).
PATH is a log directory or segment files in log order. Exit status 1 on any problem.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(pubkeys) == 0 {
				return errors.New("--pubkey is required")
			}
			for _, p := range pubkeys {
				k, err := audit.LoadPublicKey(p)
				if err != nil {
					return err
				}
				opts.PublicKeys = append(opts.PublicKeys, k)
			}
			rep, err := audit.Verify(args, opts)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), rep.Summary())
			if rep.Problem != nil {
				return fmt.Errorf("audit log verification failed: %s at %s", rep.Problem.Kind, rep.Problem.At)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&pubkeys, "pubkey", nil, "PEM public key of the checkpoint signing key (repeat for logs signed by several keys)")
	f.BoolVar(&opts.Partial, "partial", false, "accept a log whose first segments were removed (e.g. after shipping)")
	f.BoolVar(&opts.RequireClosed, "closed", false, "require the log to end with the closing checkpoint (for logs of stopped agents)")
	f.StringVar(&opts.ExpectCheckpoint, "expect-checkpoint", "", "signature of a checkpoint seen in a shipped copy: the log must contain it")
	return cmd
}

func auditShowCmd() *cobra.Command {
	var session string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show --session ID PATH...",
		Short: "Print every record of one session",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return audit.Show(cmd.OutOrStdout(), args, session, asJSON)
		},
	}
	cmd.Flags().StringVar(&session, "session", "", "session id (from a session_start record)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the records' JSON lines unchanged")
	_ = cmd.MarkFlagRequired("session")
	return cmd
}

func auditTailCmd() *cobra.Command {
	var opts audit.TailOptions
	cmd := &cobra.Command{
		Use:   "tail PATH...",
		Short: "Print the last records, and with -f the records as they are appended",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return audit.Tail(cmd.Context(), cmd.OutOrStdout(), args, opts)
		},
	}
	cmd.Flags().IntVarP(&opts.Lines, "lines", "n", 20, "how many of the last records to print")
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "keep printing appended records (follows the writer into new segments)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the records' JSON lines unchanged")
	return cmd
}

func auditKeygenCmd() *cobra.Command {
	var priv, pub string
	cmd := &cobra.Command{
		Use:   "keygen --key FILE --pubkey FILE",
		Short: "Create the checkpoint signing key (PEM, as openssl genpkey -algorithm ed25519 would)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := audit.WriteKeyPair(priv, pub); err != nil {
				return err
			}
			k, err := audit.LoadPublicKey(pub)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (keep it on the node, mode 0600) and %s (give it to verifiers); key id %s\n", priv, pub, audit.KeyID(k))
			return err
		},
	}
	cmd.Flags().StringVar(&priv, "key", "", "where to write the private key")
	cmd.Flags().StringVar(&pub, "pubkey", "", "where to write the public key")
	_ = cmd.MarkFlagRequired("key")
	_ = cmd.MarkFlagRequired("pubkey")
	return cmd
}
