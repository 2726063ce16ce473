package policy

import "github.com/sluicehq/sluice/internal/policy/classify"

// Session is what the engine needs to know about the session a statement runs in.
type Session struct {
	// LockTimeout is true once the session has set a non-zero lock_timeout: DDL then no
	// longer carries FlagNoLockTimeout. Maintained by Observe.
	LockTimeout bool
}

// Observe updates the session from a statement that ran successfully.
func (s *Session) Observe(c *classify.Classification) {
	for _, st := range c.Statements {
		if st.Command == "RESET" || st.Command == "DISCARD ALL" {
			s.LockTimeout = false // cannot tell which parameter RESET named: assume the worst
		}
		for _, set := range st.Settings {
			if set.Name == "lock_timeout" {
				s.LockTimeout = set.Known && set.Value != "0"
			}
		}
	}
}
