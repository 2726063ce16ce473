package identity

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/testenv"
)

// Enrollments survive a restart (a new Resolver on the same file) while they are sound, and
// only the verified identity is stored, never the token.
func TestEnrollmentsPersist(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state", "enrollments.json")
	var cfg Config
	f := newFixture(t, func(c *Config) { c.EnrollmentsFile = file; cfg = *c })
	ctx := context.Background()
	kept := testenv.Cgroup(t, "")
	removed := testenv.Cgroup(t, "")
	tok := f.token("job-42", 10*time.Minute, nil)
	for _, cg := range []string{kept, removed} {
		if _, err := f.r.Enroll(ctx, cgroup.Name(cg), tok); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), tok) || strings.Contains(string(b), strings.Split(tok, ".")[2]) {
		t.Error("the enrollments file holds the token")
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Errorf("enrollments file mode %v, want 0600", st.Mode().Perm())
	}
	if err := cgroup.Remove(removed); err != nil {
		t.Fatal(err)
	}

	restarted, err := NewResolver(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if id, err := restarted.Identity(ctx, originOf(t, kept)); err != nil || id.Subject != "job-42" || id.Groups[0] != "ci" {
		t.Errorf("after restart: %+v, %v; want job-42's enrollment restored", id, err)
	}
	if n := len(restarted.Enrollments()); n != 1 {
		t.Errorf("%d enrollments restored, want 1 (the removed cgroup's dropped)", n)
	}

	// An issuer no longer trusted takes its enrollments with it.
	other := cfg
	other.Issuers = []IssuerConfig{newTestIssuer(t).config()}
	distrusted, err := NewResolver(other, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := distrusted.Identity(ctx, originOf(t, kept)); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("enrollment of a distrusted issuer restored: %v", err)
	}
}
