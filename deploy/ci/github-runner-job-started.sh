#!/usr/bin/env bash
# Example ACTIONS_RUNNER_HOOK_JOB_STARTED hook for a self-hosted GitHub Actions runner
# installed as a systemd service. It runs as root before each job (configure the runner's
# service with the hook and `sudo` rights for this one script).
#
# The job's processes run in the runner service's cgroup; enforcing that cgroup sends every
# PostgreSQL connect of the job through sluice. The runner's own traffic (HTTPS to GitHub)
# is not on a redirected port and is untouched.
set -euo pipefail

unit="${RUNNER_SERVICE_UNIT:?set RUNNER_SERVICE_UNIT, e.g. actions.runner.org-repo.host.service}"
cg="/system.slice/${unit}"

sluice enforce "$cg" --mode enforce
echo "sluice: PostgreSQL connections of this job go through sluice (cgroup $cg)"
