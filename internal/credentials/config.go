package credentials

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/sluicehq/sluice/internal/proxy"
)

// Config says where the secret of one database login comes from. It is the YAML form used
// for a target's own login and for each role mapping's login; its keys sit inline beside
// the login's "user". At most one field may be set; none means no password (trust or
// certificate authentication).
type Config struct {
	// PasswordFile is read on every new connection, without its trailing line break, so
	// a rotated secret mount applies to the next session.
	PasswordFile string `yaml:"password_file"`
	// PasswordEnv names an environment variable of the agent holding the password.
	PasswordEnv string `yaml:"password_env"`
	// RDSIAM logs in with AWS RDS/Aurora IAM authentication tokens signed with the node's
	// AWS credentials. The target's TLS mode must not be disable.
	RDSIAM *RDSIAMConfig `yaml:"rds_iam"`
}

// RDSIAMConfig configures RDS IAM authentication tokens. The user a token is for is the
// login's user; the AWS credentials are the node's, found the way every AWS SDK finds them
// (environment, shared files, web identity / IRSA, ECS or EC2 instance role).
type RDSIAMConfig struct {
	// Region is the database's AWS region. Empty: the node's AWS configuration
	// (AWS_REGION, the shared config file); none there is an error.
	Region string `yaml:"region"`
	// Endpoint is the host:port the token is signed for. Empty: the target's host and
	// port. Set it when the agent dials the database by another name (an IP, a private
	// DNS alias) than the RDS endpoint the token must name.
	Endpoint string `yaml:"endpoint"`
}

// IsZero reports whether no source is configured (the login has no password).
func (c Config) IsZero() bool {
	return c.PasswordFile == "" && c.PasswordEnv == "" && c.RDSIAM == nil
}

// Source builds the configured source for user's logins to target t, or returns nil when
// none is configured. It fails, naming the problem, when more than one source is set, when
// a token source is configured for a target whose TLS mode is disable, when the password
// variable is not set, or when no AWS region is known: mistakes that would otherwise only
// show when the first session is refused.
func (c Config) Source(ctx context.Context, t *proxy.Target, user string) (proxy.PasswordSource, error) {
	set := 0
	for _, s := range []bool{c.PasswordFile != "", c.PasswordEnv != "", c.RDSIAM != nil} {
		if s {
			set++
		}
	}
	switch {
	case set > 1:
		return nil, errors.New("set only one of password_file, password_env and rds_iam")
	case c.PasswordFile != "":
		return proxy.PasswordFile(c.PasswordFile), nil
	case c.PasswordEnv != "":
		if _, ok := os.LookupEnv(c.PasswordEnv); !ok {
			return nil, fmt.Errorf("password_env: environment variable %s is not set", c.PasswordEnv)
		}
		return proxy.PasswordEnv(c.PasswordEnv), nil
	case c.RDSIAM != nil:
		return c.RDSIAM.source(ctx, t, user)
	}
	return nil, nil
}

// source builds the token source for user at t, checking TLS first: the check the proxy
// repeats before every connection is made here too, so the mistake stops the start.
func (c *RDSIAMConfig) source(ctx context.Context, t *proxy.Target, user string) (*RDSIAM, error) {
	if t.TLS == proxy.TLSDisable {
		return nil, fmt.Errorf("rds_iam: target %q has TLS mode %q; IAM tokens are only sent over TLS (use verify-full with the RDS CA bundle as ca_file)", t.Name, t.TLS)
	}
	if user == "" {
		return nil, errors.New("rds_iam: the login has no user to sign the token for")
	}
	endpoint := c.Endpoint
	if endpoint == "" {
		endpoint = net.JoinHostPort(t.Host, strconv.Itoa(int(t.Port)))
	}
	host, port, err := net.SplitHostPort(endpoint)
	if _, perr := strconv.ParseUint(port, 10, 16); err != nil || host == "" || perr != nil {
		return nil, fmt.Errorf("rds_iam: endpoint %q is not host:port", endpoint)
	}
	ac, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(c.Region))
	if err != nil {
		return nil, fmt.Errorf("rds_iam: loading the node's AWS configuration: %w", err)
	}
	if ac.Region == "" {
		return nil, errors.New("rds_iam: no AWS region: set region, or AWS_REGION for the agent")
	}
	return &RDSIAM{Endpoint: endpoint, Region: ac.Region, User: user, Credentials: ac.Credentials}, nil
}
