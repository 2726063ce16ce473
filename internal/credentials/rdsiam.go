package credentials

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"
)

// RDSIAM generates AWS RDS and Aurora IAM database authentication tokens: SigV4-presigned
// "connect" requests for one database user at one endpoint, valid for 15 minutes, which
// the server accepts as that user's password. With them no database password exists at
// all: the node's AWS credentials (its instance or pod role) are what the database trusts,
// and revoking the IAM policy revokes the login.
//
// A token is generated for every connection, so each is fresh; the AWS credentials behind
// it are cached and refreshed by the provider (aws.CredentialsCache).
type RDSIAM struct {
	// Endpoint is the database's host:port as the token is signed for. It must be the
	// address the connection goes to (the target's Host and Port): RDS checks it.
	Endpoint string
	// Region is the AWS region of the database.
	Region string
	// User is the database user the token logs in as; it must be the login's user.
	User string
	// Credentials are the AWS credentials that sign the token.
	Credentials aws.CredentialsProvider
}

// Password returns a new authentication token.
func (r *RDSIAM) Password(ctx context.Context) (string, error) {
	token, err := auth.BuildAuthToken(ctx, r.Endpoint, r.Region, r.User, r.Credentials)
	if err != nil {
		return "", fmt.Errorf("rds_iam: generating the token for %s at %s: %w", r.User, r.Endpoint, err)
	}
	return token, nil
}

// RequiresTLS is always true: the token is a bearer credential that anyone who sees it can
// use for 15 minutes, so it must never cross the network in plaintext (RDS also refuses IAM
// logins without TLS). The proxy checks this before asking for a token.
func (*RDSIAM) RequiresTLS() bool { return true }
