package roles

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// Cleanup drops the ephemeral roles that carry this agent's prefix but belong to no live
// session of this Mapper: those a previous run of the agent left behind when it was killed
// or lost its database. Call it at start, before sessions are served: a Mapper built by a
// reload does not know the roles of the sessions its predecessor still serves. It returns
// the roles dropped; a target without ephemeral roles has nothing to clean.
func (m *Mapper) Cleanup(ctx context.Context) ([]string, error) {
	if m.eph == nil {
		return nil, nil
	}
	return m.eph.cleanup(ctx)
}

func (e *ephemeral) cleanup(ctx context.Context) ([]string, error) {
	leftovers, err := e.leftovers(ctx)
	if err != nil {
		return nil, err
	}
	var dropped []string
	var errs []error
	for _, name := range leftovers {
		if err := e.dropRole(ctx, name, ReasonCleanup, ""); err != nil {
			errs = append(errs, err)
			continue
		}
		dropped = append(dropped, name)
	}
	return dropped, errors.Join(errs...)
}

// leftovers lists the roles named exactly as this agent names its ephemeral roles
// (prefix, then random hex digits) that no live session holds.
func (e *ephemeral) leftovers(ctx context.Context) ([]string, error) {
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		return nil, e.unreachable(err)
	}
	defer conn.Release()
	const list = "SELECT rolname FROM pg_catalog.pg_roles WHERE pg_catalog.starts_with(rolname, $1)"
	st := Statement{Text: list, Args: []string{e.prefix}, Reason: ReasonCleanup}
	_ = e.report(st) // a read: it runs even when it cannot be recorded, which report logs
	rows, _ := conn.Query(ctx, list, e.prefix)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		e.reportFailure(st, err)
		return nil, e.unreachable(err)
	}
	var out []string
	for _, n := range names {
		if ownRole(e.prefix, n) && !e.isLive(n) {
			out = append(out, n)
		}
	}
	return out, nil
}
