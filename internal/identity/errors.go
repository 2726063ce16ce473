package identity

import (
	"errors"
	"fmt"
)

// Errors the Resolver returns, wrapped in messages that name the cgroup. In enforce mode the
// proxy refuses the session (FATAL 28000) with the message; in audit mode it lets it through as
// unverified and flags it.
var (
	// ErrNoIdentity means no source binds a token to the cgroup.
	ErrNoIdentity = errors.New("no verified identity")
	// ErrIdentityChanged means a live session's cgroup now has a different identity (a
	// re-enrollment with another workload's token); the session must end.
	ErrIdentityChanged = errors.New("identity changed")
)

// noIdentityError tells the operator which cgroup lacks an identity and how to give it one.
type noIdentityError struct{ cgroup string }

// Error names the cgroup and the command that gives it an identity.
func (e *noIdentityError) Error() string {
	return fmt.Sprintf("cgroup %s has no verified identity; enroll it with: sluice enroll %s --token-file F", e.cgroup, e.cgroup)
}

// Is makes errors.Is(err, ErrNoIdentity) hold.
func (e *noIdentityError) Is(target error) bool { return target == ErrNoIdentity }
