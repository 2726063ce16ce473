package testenv

import (
	"testing"

	"github.com/sluicehq/sluice/internal/pglocal"
)

// Postgres starts a throwaway PostgreSQL server for the test and stops it (removing its data)
// at cleanup, so every SQL-speaking test runs against the real server, never a mock.
func Postgres(t testing.TB, opts pglocal.Options) *pglocal.Server {
	t.Helper()
	s, err := pglocal.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping PostgreSQL: %v", err)
		}
	})
	return s
}
