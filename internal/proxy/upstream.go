package proxy

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// upstream is an authenticated connection to the target's server, taken over from pgconn.
type upstream struct {
	// pg is the hijacked pgconn connection. It no longer owns the socket; it is kept only
	// because its CancelRequest knows how to reach the same server the same way (address,
	// TLS), which is what forwarding a client's cancel request needs.
	pg *pgconn.PgConn
	*pgconn.HijackedConn
}

// dialUpstream opens a connection to t's server for database, authenticates it with lg,
// passes the client's startup parameters as session defaults, and takes it over from pgconn.
func dialUpstream(ctx context.Context, t *Target, lg login, database string, params map[string]string) (*upstream, error) {
	cfg, err := t.ConnConfig(ctx, lg.user, lg.password, database)
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams = params
	pg, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pg.SyncConn(ctx); err != nil {
		pg.Close(ctx)
		return nil, err
	}
	hc, err := pg.Hijack()
	if err != nil {
		pg.Close(ctx)
		return nil, err
	}
	return &upstream{pg: pg, HijackedConn: hc}, nil
}

// connString spells out, for a login as user, every setting that decides where the
// connection goes and how it is secured, so that neither the agent's PG* environment
// variables nor the files under its ~/.postgresql can change them. The password and the
// client-chosen values are set on the parsed Config instead, which needs no quoting and
// keeps secrets out of strings.
func connString(t *Target, user string) string {
	rootCert := ""
	if t.TLS == TLSVerifyFull {
		rootCert = t.CAFile
		if rootCert == "" {
			rootCert = "system"
		}
	}
	settings := []struct{ key, value string }{
		{"host", t.Host},
		{"port", strconv.Itoa(int(t.Port))},
		{"user", user},
		{"sslmode", string(t.TLS)},
		{"sslrootcert", rootCert},
		{"sslcert", ""},
		{"sslkey", ""},
		{"sslnegotiation", "postgres"},
		{"target_session_attrs", "any"},
	}
	var b strings.Builder
	for _, s := range settings {
		fmt.Fprintf(&b, "%s='%s' ", s.key, connStringQuoter.Replace(s.value))
	}
	return b.String()
}

// connStringQuoter escapes a value for a single-quoted keyword/value connection string.
var connStringQuoter = strings.NewReplacer(`\`, `\\`, `'`, `\'`)
