package credentials

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/internal/origin"
	"github.com/sluicehq/sluice/internal/pglocal"
	"github.com/sluicehq/sluice/internal/proxy"
	"github.com/sluicehq/sluice/internal/testenv"
)

// hermeticAWS gives the AWS SDK's default chain only what the test sets: no shared files,
// no instance metadata, so nothing leaves the machine.
func hermeticAWS(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", testKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecret)
	for _, v := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(v, "")
	}
}

func decode(t *testing.T, doc string) Config {
	t.Helper()
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("decoding %q: %v", doc, err)
	}
	return c
}

var tlsTarget = &proxy.Target{Name: "app", Host: testHost, Port: 5432, TLS: proxy.TLSVerifyFull}

// TestSourceFromConfig builds each kind of source from its YAML form.
func TestSourceFromConfig(t *testing.T) {
	hermeticAWS(t)
	t.Setenv("APP_DB_PASSWORD", "from-env")

	src, err := decode(t, "password_file: /run/secrets/app\n").Source(t.Context(), tlsTarget, "app")
	if err != nil || src != proxy.PasswordFile("/run/secrets/app") {
		t.Fatalf("password_file: %#v, %v", src, err)
	}
	src, err = decode(t, "password_env: APP_DB_PASSWORD\n").Source(t.Context(), tlsTarget, "app")
	if pw, _ := src.Password(t.Context()); err != nil || pw != "from-env" {
		t.Fatalf("password_env: %q, %v", pw, err)
	}
	if src, err = (Config{}).Source(t.Context(), tlsTarget, "app"); src != nil || err != nil {
		t.Fatalf("no source configured: %#v, %v; want none", src, err)
	}

	src, err = decode(t, "rds_iam: {region: eu-west-1}\n").Source(t.Context(), tlsTarget, "app_readonly")
	if err != nil {
		t.Fatal(err)
	}
	token, err := src.Password(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	u := parseToken(t, token)
	creds, _ := staticCreds.Retrieve(t.Context())
	if u.Host != testHost+":5432" || u.Query().Get("DBUser") != "app_readonly" || !signatureValid(t, u, creds, testRegion) {
		t.Fatalf("token from the node's credentials: %s", token)
	}

	t.Setenv("AWS_REGION", "us-east-2")
	src, err = decode(t, "rds_iam: {endpoint: 'app.proxy-x.us-east-2.rds.amazonaws.com:6543'}\n").Source(t.Context(), tlsTarget, "ci")
	if err != nil {
		t.Fatal(err)
	}
	token, _ = src.Password(t.Context())
	if u := parseToken(t, token); u.Host != "app.proxy-x.us-east-2.rds.amazonaws.com:6543" || !signatureValid(t, u, creds, "us-east-2") {
		t.Fatalf("token with the endpoint and region from the configuration: %s", token)
	}
}

// TestSourceConfigErrors: every mistake is refused when the configuration is loaded, with a
// message naming it.
func TestSourceConfigErrors(t *testing.T) {
	hermeticAWS(t)
	plaintext := &proxy.Target{Name: "legacy", Host: "db", Port: 5432, TLS: proxy.TLSDisable}
	cases := []struct {
		name, doc string
		target    *proxy.Target
		user      string
		want      string
	}{
		{"two sources", "password_file: /x\npassword_env: HOME\n", tlsTarget, "u", "set only one of"},
		{"unset variable", "password_env: SLUICE_TEST_NO_SUCH_VARIABLE\n", tlsTarget, "u", "SLUICE_TEST_NO_SUCH_VARIABLE is not set"},
		{"rds_iam without TLS", "rds_iam: {region: eu-west-1}\n", plaintext, "u", `target "legacy" has TLS mode "disable"`},
		{"rds_iam without region", "rds_iam: {}\n", tlsTarget, "u", "no AWS region"},
		{"rds_iam bad endpoint", "rds_iam: {region: eu-west-1, endpoint: db.example}\n", tlsTarget, "u", "not host:port"},
		{"rds_iam bad port", "rds_iam: {region: eu-west-1, endpoint: 'db.example:99999'}\n", tlsTarget, "u", "not host:port"},
		{"rds_iam no user", "rds_iam: {region: eu-west-1}\n", tlsTarget, "", "no user"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src, err := decode(t, c.doc).Source(t.Context(), c.target, c.user)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %#v, %v; want an error containing %q", src, err, c.want)
			}
		})
	}
	var c Config
	dec := yaml.NewDecoder(strings.NewReader("rds_iam: {region: x, role_arn: y}\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err == nil {
		t.Fatal("an unknown rds_iam key was accepted")
	}
}

// staticOrigin says every connection was redirected from dest by an enforced cgroup.
type staticOrigin netip.AddrPort

func (o staticOrigin) Lookup(netip.AddrPort, netip.AddrPort) (origin.Origin, error) {
	return origin.Origin{Dest: netip.AddrPort(o), CgroupID: 1, PID: 1, Mode: origin.ModeEnforce}, nil
}

// TestRDSIAMThroughProxyWithoutTLS: a client of a plaintext target whose login is an RDS
// IAM token is refused with a message saying why, the database never sees a connection
// attempt, and no token is ever generated.
func TestRDSIAMThroughProxyWithoutTLS(t *testing.T) {
	testenv.RequireRoot(t)
	pg := testenv.Postgres(t, pglocal.Options{Settings: []pglocal.Setting{{Name: "log_connections", Value: "on"}}})
	var retrieved atomic.Int32
	src := &RDSIAM{Region: testRegion, User: "postgres", Endpoint: net.JoinHostPort(pg.Host, "5432"),
		Credentials: countingProvider(&retrieved)}
	dest := netip.MustParseAddrPort("10.0.0.5:5432")
	var logs bytes.Buffer
	srv, err := proxy.NewServer(proxy.Config{
		Targets: []proxy.Target{{
			Name: "rds", Destinations: []proxy.Destination{{Prefix: netip.PrefixFrom(dest.Addr(), 32)}},
			Host: pg.Host, Port: uint16(pg.Port), User: "postgres", Password: src, TLS: proxy.TLSDisable,
		}},
		Origins: staticOrigin(dest),
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	logBefore, _ := pg.Log()

	_, err = pgx.Connect(t.Context(), "postgres://app@"+ln.Addr().String()+"/postgres?sslmode=disable")
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	if !ok || pgErr.Code != proxy.CodeUnableToConnect || !strings.Contains(pgErr.Message, "must only be sent over TLS") {
		t.Fatalf("connect: %v; want 08001 saying the token needs TLS", err)
	}
	if n := retrieved.Load(); n != 0 {
		t.Fatalf("AWS credentials retrieved %d times for a plaintext target", n)
	}
	logAfter, _ := pg.Log()
	if strings.Contains(strings.TrimPrefix(logAfter, logBefore), "connection received") {
		t.Fatalf("the database saw a connection attempt:\n%s", strings.TrimPrefix(logAfter, logBefore))
	}
}
