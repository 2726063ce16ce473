package agent

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/internal/approvals"
	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/policy"
)

// openAudit opens the statement log. The agent does not start without it: statements
// would otherwise run unaudited (or, worse, all be refused at the first one).
func openAudit(cfg *Config, a *Agent) (*audit.Log, error) {
	key, err := audit.LoadPrivateKey(cfg.Audit.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("audit.key_file: %w (create one with: sluice audit keygen --key %s --pubkey %s.pub)", err, cfg.Audit.KeyFile, cfg.Audit.KeyFile)
	}
	sync, _ := audit.ParseSyncPolicy(cfg.Audit.Sync) // validated with the config
	return audit.Open(audit.Options{
		Dir:                cfg.Audit.Dir,
		Key:                key,
		Sync:               sync,
		SyncWindow:         time.Duration(cfg.Audit.SyncWindow),
		CheckpointEvery:    cfg.Audit.CheckpointEvery,
		CheckpointInterval: time.Duration(cfg.Audit.CheckpointInterval),
		MaxSegmentBytes:    cfg.Audit.MaxSegmentBytes,
		Logger:             a.log,
	})
}

// loadRules reads the configured rule file, or the built-in default pack.
func loadRules(cfg *Config) (*policy.RuleSet, error) {
	if cfg.Policy.RulesFile == "" {
		return policy.DefaultRules(), nil
	}
	rs, err := policy.LoadFile(cfg.Policy.RulesFile)
	if err != nil {
		return nil, fmt.Errorf("policy.rules_file: %w", err)
	}
	return rs, nil
}

// newApprovals builds the store that holds reviewed statements, notifying the configured
// webhook of each request.
func newApprovals(cfg *Config, log *slog.Logger) *approvals.Store {
	opts := approvals.Options{Timeout: time.Duration(cfg.Approvals.Timeout), Logger: log}
	if cfg.Approvals.WebhookURL != "" {
		opts.Notify = approvals.Webhook(cfg.Approvals.WebhookURL, nil, log)
	}
	return approvals.New(opts)
}
