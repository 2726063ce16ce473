package proxy

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// PasswordSource yields the password of a target's database user. The proxy asks it for
// every new upstream connection, so a rotated secret is picked up by the next session
// without a restart while open sessions keep running.
type PasswordSource interface {
	Password(ctx context.Context) (string, error)
}

// PasswordFile reads the password from the file at this path, without the trailing line
// break editors and secret mounts tend to add. The file is read on every call, so a
// replaced file (a rotated Kubernetes secret, say) applies to the next connection.
type PasswordFile string

// Password implements PasswordSource.
func (f PasswordFile) Password(context.Context) (string, error) {
	b, err := os.ReadFile(string(f))
	if err != nil {
		return "", fmt.Errorf("reading password file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// PasswordEnv reads the password from the environment variable of this name. An unset
// variable is an error rather than an empty password, so a typo cannot silently try to
// log in without one.
type PasswordEnv string

// Password implements PasswordSource.
func (e PasswordEnv) Password(context.Context) (string, error) {
	v, ok := os.LookupEnv(string(e))
	if !ok {
		return "", fmt.Errorf("password environment variable %s is not set", string(e))
	}
	return v, nil
}

// PasswordFunc adapts a function to PasswordSource, for secrets that are fetched rather
// than read (a cloud IAM token, a vault lease).
type PasswordFunc func(ctx context.Context) (string, error)

// Password implements PasswordSource.
func (f PasswordFunc) Password(ctx context.Context) (string, error) { return f(ctx) }
