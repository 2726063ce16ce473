package agent

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice/internal/masking"
	"github.com/sluicehq/sluice/internal/masking/catalog"
	"github.com/sluicehq/sluice/internal/policy/sqlparse"
	"github.com/sluicehq/sluice/internal/proxy"
)

// openMasking builds the masking engine, or nil when no rule file is configured.
func (a *Agent) openMasking(cfg *Config) (*masking.Engine, error) {
	if cfg.Masking.RulesFile == "" {
		return nil, nil
	}
	rules, err := masking.LoadFile(cfg.Masking.RulesFile)
	if err != nil {
		return nil, err
	}
	var key []byte
	if cfg.Masking.HashKeyFile != "" {
		if key, err = os.ReadFile(cfg.Masking.HashKeyFile); err != nil {
			return nil, fmt.Errorf("masking.hash_key_file: %w", err)
		}
	}
	if a.maskParser, err = sqlparse.New(sqlparse.Options{}); err != nil {
		return nil, fmt.Errorf("masking parser: %w", err)
	}
	return masking.New(masking.Options{Rules: rules, Parser: a.maskParser, HashKey: key, Logger: a.log})
}

// catalogs hands out one catalog connection per target database: result columns are
// resolved to their origin there (OIDs are per database).
type catalogs struct {
	mu      sync.Mutex
	targets map[string]proxy.Target
	byDB    map[[2]string]*catalog.Conn
	opts    catalog.Options
}

func (c *catalogs) get(target, database string) catalog.Catalog {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := [2]string{target, database}
	if cat, ok := c.byDB[key]; ok {
		return cat
	}
	t := c.targets[target]
	cat := catalog.New(func(ctx context.Context) (*pgconn.PgConn, error) {
		cfg, err := t.ConnConfig(ctx, t.User, t.Password, database)
		if err != nil {
			return nil, err
		}
		return pgconn.ConnectConfig(ctx, cfg)
	}, c.opts)
	c.byDB[key] = cat
	return cat
}
