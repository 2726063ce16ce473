package testenv

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

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

// SharedPostgres is one PostgreSQL for a whole test package, started on first use (most of
// the package's tests need one, none needs its own) and stopped when the package's tests
// are done: the package's TestMain calls Run.
type SharedPostgres struct {
	once sync.Once
	pg   *pglocal.Server
	err  error
}

// Get starts the server with opts and then setup (a schema; may be nil) on first use, and
// returns it. Every later call returns the same server, whatever its arguments.
func (s *SharedPostgres) Get(t testing.TB, opts pglocal.Options, setup func(*pglocal.Server) error) *pglocal.Server {
	t.Helper()
	RequireRoot(t)
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s.pg, s.err = pglocal.Start(ctx, opts)
		if s.err == nil && setup != nil {
			s.err = setup(s.pg)
		}
	})
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.pg
}

// Run runs the package's tests, then stops the server if one was started; it returns the
// exit code for TestMain.
func (s *SharedPostgres) Run(m *testing.M) int {
	code := m.Run()
	if s.pg != nil {
		if err := s.pg.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the shared PostgreSQL:", err)
			code = 1
		}
	}
	return code
}
