package credentials

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/sluicehq/sluice/internal/proxy"
)

// Static test credentials (the AWS documentation's example key pair): tokens are signed
// locally, so no request ever leaves the test.
const (
	testKeyID  = "AKIAIOSFODNN7EXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testRegion = "eu-west-1"
	testHost   = "app.cluster-c9akciq32.eu-west-1.rds.amazonaws.com"
)

var staticCreds = awscreds.NewStaticCredentialsProvider(testKeyID, testSecret, "")

// parseToken reads a token the way RDS does: a presigned https URL without its scheme.
func parseToken(t *testing.T, token string) *url.URL {
	t.Helper()
	if strings.Contains(token, "://") {
		t.Fatalf("token %q carries a scheme; RDS expects host:port/?...", token)
	}
	u, err := url.Parse("https://" + token)
	if err != nil {
		t.Fatalf("token is not a URL: %v", err)
	}
	return u
}

// signatureValid recomputes the SigV4 presignature of the token's request (host, Action,
// DBUser, X-Amz-Expires at the token's X-Amz-Date) with creds in region, and compares it
// with the token's X-Amz-Signature.
func signatureValid(t *testing.T, u *url.URL, creds aws.Credentials, region string) bool {
	t.Helper()
	q := u.Query()
	at, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		t.Fatalf("X-Amz-Date %q: %v", q.Get("X-Amz-Date"), err)
	}
	unsigned := url.Values{"Action": {q.Get("Action")}, "DBUser": {q.Get("DBUser")}, "X-Amz-Expires": {q.Get("X-Amz-Expires")}}
	req, err := http.NewRequest(http.MethodGet, "https://"+u.Host+"?"+unsigned.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	empty := sha256.Sum256(nil)
	signed, _, err := v4.NewSigner().PresignHTTP(t.Context(), creds, req, hex.EncodeToString(empty[:]), "rds-db", region, at)
	if err != nil {
		t.Fatal(err)
	}
	su, err := url.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	return su.Query().Get("X-Amz-Signature") == q.Get("X-Amz-Signature")
}

// TestRDSIAMTokenForm checks a token against the documented format of an RDS IAM
// authentication token: host:port?Action=connect&DBUser=<user> presigned with SigV4 for
// service rds-db, valid 900 seconds, signing only the host header, and a signature that
// verifies for exactly these parameters and credentials.
func TestRDSIAMTokenForm(t *testing.T) {
	src := &RDSIAM{Endpoint: testHost + ":5432", Region: testRegion, User: "app_readonly", Credentials: staticCreds}
	before := time.Now().UTC().Truncate(time.Second)
	token, err := src.Password(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, testHost+":5432?") {
		t.Fatalf("token %q does not start with host:port?", token)
	}
	u := parseToken(t, token)
	q := u.Query()
	want := map[string]string{
		"Action":              "connect",
		"DBUser":              "app_readonly",
		"X-Amz-Algorithm":     "AWS4-HMAC-SHA256",
		"X-Amz-Expires":       "900",
		"X-Amz-SignedHeaders": "host",
	}
	for k, v := range want {
		if got := q.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	at, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil || at.Before(before) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("X-Amz-Date %q (%v) is not the signing moment", q.Get("X-Amz-Date"), err)
	}
	if cred, wantCred := q.Get("X-Amz-Credential"), testKeyID+"/"+at.Format("20060102")+"/"+testRegion+"/rds-db/aws4_request"; cred != wantCred {
		t.Errorf("X-Amz-Credential = %q, want %q", cred, wantCred)
	}
	if sig := q.Get("X-Amz-Signature"); !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(sig) {
		t.Errorf("X-Amz-Signature = %q, want 64 hex digits", sig)
	}
	if q.Has("X-Amz-Security-Token") {
		t.Errorf("a token from long-term credentials carries X-Amz-Security-Token")
	}
	creds, _ := staticCreds.Retrieve(t.Context())
	if !signatureValid(t, u, creds, testRegion) {
		t.Fatal("the signature does not verify for the token's own parameters")
	}

	// The check can fail: a token edited for another user, or checked for another region
	// or another secret, does not verify.
	forged := parseToken(t, strings.Replace(token, "DBUser=app_readonly", "DBUser=app_admin", 1))
	if signatureValid(t, forged, creds, testRegion) {
		t.Fatal("a token whose DBUser was changed still verifies")
	}
	if signatureValid(t, u, creds, "us-east-1") {
		t.Fatal("the token verifies for another region")
	}
	other := creds
	other.SecretAccessKey = "another-secret"
	if signatureValid(t, u, other, testRegion) {
		t.Fatal("the token verifies with another secret key")
	}
}

// TestRDSIAMTemporaryCredentials: tokens signed with temporary credentials (an instance or
// pod role) carry the session token, which RDS needs to check them.
func TestRDSIAMTemporaryCredentials(t *testing.T) {
	creds := awscreds.NewStaticCredentialsProvider(testKeyID, testSecret, "session-token/with+chars=")
	src := &RDSIAM{Endpoint: "[fd00::5]:6432", Region: testRegion, User: "ci", Credentials: creds}
	token, err := src.Password(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	u := parseToken(t, token)
	if u.Hostname() != "fd00::5" || u.Port() != "6432" {
		t.Fatalf("IPv6 endpoint: token addresses %q port %q", u.Hostname(), u.Port())
	}
	if got := u.Query().Get("X-Amz-Security-Token"); got != "session-token/with+chars=" {
		t.Fatalf("X-Amz-Security-Token = %q", got)
	}
}

// TestRDSIAMNewTokenPerConnection: every connection gets its own token, while the AWS
// credentials are retrieved through the (caching) provider; its failure fails the login.
func TestRDSIAMNewTokenPerConnection(t *testing.T) {
	var retrieved atomic.Int32
	provider := aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		retrieved.Add(1)
		return aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, CanExpire: true, Expires: time.Now().Add(time.Hour)}, nil
	}))
	src := &RDSIAM{Endpoint: testHost + ":5432", Region: testRegion, User: "u", Credentials: provider}
	first, err := src.Password(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // X-Amz-Date has one-second resolution
	second, err := src.Password(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if first == second {
		t.Fatal("two connections got the same token")
	}
	if n := retrieved.Load(); n != 1 {
		t.Fatalf("credentials retrieved %d times, want 1 (cached)", n)
	}

	failing := &RDSIAM{Endpoint: testHost + ":5432", Region: testRegion, User: "u", Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{}, errors.New("no EC2 instance role")
	})}
	if _, err := failing.Password(t.Context()); err == nil || !strings.Contains(err.Error(), "no EC2 instance role") {
		t.Fatalf("failing credentials: %v", err)
	}
}

// TestRDSIAMRefusedWithoutTLS: on a target whose TLS mode is disable, the proxy's
// connection configuration refuses the token source before a token exists; with TLS it
// carries a fresh token as the password.
func TestRDSIAMRefusedWithoutTLS(t *testing.T) {
	var retrieved atomic.Int32
	src := &RDSIAM{Endpoint: testHost + ":5432", Region: testRegion, User: "app", Credentials: countingProvider(&retrieved)}
	var _ proxy.TLSRequirer = src
	target := proxy.Target{Name: "rds", Host: testHost, Port: 5432, TLS: proxy.TLSDisable}
	if _, err := target.ConnConfig(t.Context(), "app", src, "app"); err == nil || !strings.Contains(err.Error(), "must only be sent over TLS") {
		t.Fatalf("plaintext target: %v", err)
	}
	if n := retrieved.Load(); n != 0 {
		t.Fatalf("credentials retrieved %d times for a plaintext target", n)
	}
	target.TLS = proxy.TLSRequire
	cfg, err := target.ConnConfig(t.Context(), "app", src, "app")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLSConfig == nil || len(cfg.Fallbacks) != 0 {
		t.Fatal("require mode without TLS, or with a plaintext fallback")
	}
	if q := parseToken(t, cfg.Password).Query(); q.Get("DBUser") != "app" || q.Get("Action") != "connect" {
		t.Fatalf("password is not a token for app: %q", cfg.Password)
	}
}

// countingProvider returns the static test credentials and counts the retrievals in n.
func countingProvider(n *atomic.Int32) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
		n.Add(1)
		return staticCreds.Retrieve(ctx)
	})
}
