// Package demo runs sluice end to end on the local machine with nothing set up beforehand:
// what `make demo` shows a newcomer. It starts a throwaway PostgreSQL holding personal
// data, runs the real agent (this same binary) from a generated config, enforces a cgroup
// and runs an unmodified psql script in it as "the AI agent". Everything it creates
// (cgroups, bpffs pins, processes, temporary directories) is removed before it returns,
// also on failure.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluicehq/sluice/internal/agent"
	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/pglocal"
)

// Run performs the demo and writes a short narrative to out.
func Run(ctx context.Context, out io.Writer) (err error) {
	if os.Geteuid() != 0 {
		return errors.New("the demo loads eBPF programs and creates cgroups: run it as root")
	}
	var undo cleanups
	defer func() { err = errors.Join(err, undo.run()) }()
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }

	db, err := startDatabase(ctx)
	if err != nil {
		return err
	}
	undo.add(db.Stop)
	dbAddr := fmt.Sprintf("127.0.0.2:%d", db.Port)
	say("1. A throwaway PostgreSQL holds customer data at %s. The job has no password for it.", dbAddr)

	w, err := newWorkspace(&undo)
	if err != nil {
		return err
	}
	idp, token, err := startIssuer(&undo)
	if err != nil {
		return err
	}
	ag, err := startAgent(ctx, w, db, idp, &undo)
	if err != nil {
		return err
	}
	say("2. The sluice agent runs (pid %d) with the database credentials; programs attached at %s.", ag.pid(), cgroup.Name(w.root))

	job := filepath.Join(w.root, "ci-job")
	if err := os.Mkdir(job, 0o755); err != nil {
		return err
	}
	en, err := agent.NewClient(w.socket).Enroll(ctx, job, token)
	if err != nil {
		return err
	}
	say("3. The CI runner's hook enrolls the job's OIDC token: `sluice enroll %s` -> %s (groups %v).", cgroup.Name(job), en.Subject, en.Groups)
	if _, err := agent.NewClient(w.socket).SetMode(ctx, job, "enforce"); err != nil {
		return err
	}
	say("   `sluice enforce %s`: connects from that cgroup now go through sluice.", cgroup.Name(job))

	say("4. The \"AI agent\" in %s runs an unmodified psql against %s:", cgroup.Name(job), dbAddr)
	res, err := runJob(job, dbAddr)
	if err != nil {
		return fmt.Errorf("the job failed: %w\n%s", err, res)
	}
	for _, line := range strings.Split(strings.TrimSpace(res), "\n") {
		say("     | %s", line)
	}
	say("   ssn, card and email came back masked (by where the values come from, not by name); the DROP was denied.")
	st := ag.status(ctx)
	say("5. The kernel redirected %d connection(s) to the agent; the database saw only the agent's login:", st.Counters.Redirected)
	if logins, err := connectionLog(db); err == nil {
		for _, l := range logins {
			say("     | %s", l)
		}
	}

	if err := containerJob(ctx, say, w, token, db.Port, &undo); err != nil {
		return err
	}

	if _, err := agent.NewClient(w.socket).SetMode(ctx, job, "off"); err != nil {
		return err
	}
	direct, _ := runJob(job, dbAddr)
	say("7. `sluice enforce %s --mode off`: the same psql goes direct and has no credentials:", cgroup.Name(job))
	say("     | %s", firstLine(direct))
	dir := filepath.Join(w.dir, "audit")
	show, err := sluice("audit", "tail", "-n", "12", dir)
	if err != nil {
		return fmt.Errorf("sluice audit tail: %v\n%s", err, show)
	}
	say("8. Every statement was recorded before it ran, with who sent it (`sluice audit tail`):")
	for _, line := range strings.Split(strings.TrimSpace(show), "\n") {
		say("     | %s", line)
	}
	verify, err := sluice("audit", "verify", dir, "--pubkey", filepath.Join(w.dir, "audit.pub"))
	if err != nil {
		return fmt.Errorf("sluice audit verify: %v\n%s", err, verify)
	}
	say("   `sluice audit verify`: %s", firstLine(verify))
	say("Done: removing the database, the agent, its pins and the cgroups.")
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// connectionLog lists who logged in to the database, from its own log.
func connectionLog(db *pglocal.Server) ([]string, error) {
	log, err := db.Log()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(log, "\n") {
		// The demo's own set-up logs in as postgres over the unix socket; skip it.
		if i := strings.Index(line, "connection authorized: "); i >= 0 && !strings.Contains(line, "user=postgres ") {
			out = append(out, "postgres log: "+line[i:])
		}
	}
	return out, nil
}

// containerJob shows a job in its own network namespace, where 127.0.0.1 is its own: its
// connect goes to the node-local address instead, and still reaches the database only
// through sluice.
func containerJob(ctx context.Context, say func(string, ...any), w *workspace, token string, port int, undo *cleanups) error {
	c, err := newContainer(undo)
	if err != nil {
		return err
	}
	cg := filepath.Join(w.root, "container-job")
	if err := os.Mkdir(cg, 0o755); err != nil {
		return err
	}
	client := agent.NewClient(w.socket)
	if _, err := client.Enroll(ctx, cg, token); err != nil {
		return err
	}
	if _, err := client.SetMode(ctx, cg, "enforce"); err != nil {
		return err
	}
	dbAddr := fmt.Sprintf("%s:%d", containerHost, port)
	out, err := c.psql(cg, dbAddr, "select current_user || ' from ' || host(inet_client_addr())")
	if err != nil {
		return fmt.Errorf("the container job failed: %w\n%s", err, out)
	}
	say("6. A \"container\" (cgroup %s, its own network namespace %s, address %s) dials %s:", cgroup.Name(cg), c.netns, containerAddr, dbAddr)
	say("     | %s   <- redirected to the node-local address; the database sees the agent, not the container", out)
	return nil
}
