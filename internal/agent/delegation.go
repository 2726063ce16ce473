package agent

import (
	"fmt"

	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/origin"
)

// delegationWarning says why a mode set on cgroup abs does not hold against a user that
// a cgroup above it is delegated to (systemd's Delegate=yes: CI runners, container runtimes,
// user sessions), and what to set instead; "" when it holds. Such a user's processes may
// move themselves to a sibling cgroup, out of the mode's reach, and connect directly: the
// kernel allows it, so the agent cannot stop it, only tell the operator where the mode
// would hold (TestEscapeByMovingCgroup shows both).
func delegationWarning(abs string, mode origin.Mode) string {
	if mode != origin.ModeEnforce && mode != origin.ModeAudit {
		return ""
	}
	d, ok, err := cgroup.Delegated(abs)
	switch {
	case err != nil:
		return fmt.Sprintf("could not check whether %s is inside a delegated cgroup subtree: %v", cgroup.Name(abs), err)
	case !ok:
		return ""
	}
	return fmt.Sprintf("%s is inside the cgroup subtree %s, delegated to uid %d: processes of that user can move out of %s and connect directly; set the mode on %s instead",
		cgroup.Name(abs), cgroup.Name(d.Root), d.UID, cgroup.Name(abs), cgroup.Name(d.Root))
}
