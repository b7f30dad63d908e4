#!/bin/sh
# Containment: where cgroup v2 is ours (the namespace root, as in a
# container run as root, or a delegated cgroup), every agent runs in a
# cgroup of its own, delego-runner.<profile>.<hash>/job-<id>, and nothing it
# started outlives the job: not a double-forked, setsid'd daemon, not a
# cancel's stragglers. Job cgroups a dead runner left are killed and removed
# at the next start. With --containment process-group (and wherever there is
# no cgroup) the daemon escapes, as it always did: that is what cgroups fix.
. "$(dirname "$0")/lib.sh"
# The stand-ins' pid files are read from outside, and bwrap's pid namespace renumbers them (and
# --die-with-parent ends an agent with its runner): t450 covers what the sandbox changes here.
export DELEGO_SANDBOX=off
export PATH="$FIXTURES/bin:$PATH"
skip_all() { echo "ok 1 - # SKIP $*"; exit 0; }

MNT=$(awk '{ for (i = 1; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2" && $4 == "/") { print $5; exit } break } }' /proc/self/mountinfo)
OWN=$(sed -n 's/^0:://p' /proc/self/cgroup)
[ -n "$MNT" ] || skip_all "no cgroup v2 mounted"
[ "$OWN" = / ] || skip_all "this shell's cgroup is $OWN, not the namespace root: the runner would need a delegated cgroup (Delegate=yes)"
[ -w "$MNT/cgroup.procs" ] || skip_all "cgroup v2 at $MNT is not writable by $(id -un)"
STATE=$XDG_STATE_HOME/delego-runner/default
NAME=default.$(python3 -c 'import sys
h = 2166136261
for b in sys.argv[1].encode():
    h = ((h ^ b) * 16777619) & 0xffffffff
print("%08x" % h)' "$STATE")
BASE=$MNT/delego-runner.$NAME
cleanup_cgroups() {
	[ -d "$BASE" ] || return 0
	for d in "$BASE"/job-*; do
		[ -d "$d" ] || continue
		echo 1 >"$d/cgroup.kill" 2>/dev/null; sleep 0.2; rmdir "$d" 2>/dev/null
	done
	rmdir "$BASE" 2>/dev/null
}
trap 'cleanup_cgroups; cleanup' EXIT

WS=$T/ws
UP=$T/remotes/acme/app.git
relay_start || exit 1
pair_runner || { not_ok "pairing"; done_testing; exit 1; }
git init -q --bare -b main "$UP"
git init -q -b main "$T/seed"
(cd "$T/seed" && echo hello > README.md && git add . && git commit -q -m initial && git push -q "$UP" main)

run_once() {
	_log=$1; shift
	timeout 120 $DR_VG "$RUNNER_BIN" run --once --workspace-root "$WS" --git-clone-base-url "$T/remotes" "$@" >"$_log" 2>&1
}
show() { relay job show "$1" --json >"$T/job.json"; }
f() { json "$T/job.json" "$1"; }
gone() { ! kill -0 "$1" 2>/dev/null || ps -o stat= -p "$1" | grep -q Z; }
alive() { kill -0 "$1" 2>/dev/null && ! ps -o stat= -p "$1" | grep -q Z; }

# A job cgroup left by a runner that died, with a process in it.
mkdir -p "$BASE/job-stale"
sh -c 'echo $$ > "$1/cgroup.procs" && exec sleep 300' sh "$BASE/job-stale" &
STALE=$!
track_pid $STALE
check "the stale process is in the stale cgroup" wait_for 5 grep -q "^$STALE\$" "$BASE/job-stale/cgroup.procs"

# A daemon that double-forks and setsid()s, then the agent exits: in cgroup mode nothing of it is left.
id=$(relay job add --repo acme/app --executor claude --identifier C-1 --prompt "scenario=daemonize sleep=300")
run_once "$T/run1.log" --agent-pids-max 64 --agent-memory-max 512M
show "$id"
check_contains "the runner says it contains agents in cgroups" "containment: cgroup v2" "$T/run1.log"
check_contains "under this runner's own directory" "$BASE" "$T/run1.log"
check "the stale process was killed at start" wait_for 5 gone "$STALE"
check_contains "and said so" "killed the processes left in $BASE/job-stale" "$T/run1.log"
check "the stale cgroup was removed" test ! -d "$BASE/job-stale"
check_eq "daemonize job completed" completed "$(f "d['status']")"
dpid=$(cat "$HOME/fake-agent-daemon.pid" 2>/dev/null)
check "the daemon wrote its pid" test -n "$dpid"
check "the double-forked daemon is gone after the job" wait_for 5 gone "${dpid:-1}"
check "the job's cgroup was removed" test ! -d "$BASE/job-$id"
check "and the runner's directory, after its last job" test ! -d "$BASE"
if grep -qw pids "$MNT/cgroup.controllers"; then
	check_not_contains "pids.max applies" "pids.max cannot apply" "$T/run1.log"
else
	check_contains "it says plainly that pids.max cannot apply here" "pids.max cannot apply: the" "$T/run1.log"
fi
if ! grep -qw memory "$MNT/cgroup.controllers"; then
	check_contains "nor memory.max" "memory.max and pids.max cannot apply" "$T/run1.log"
fi
[ -n "$dpid" ] && kill "$dpid" 2>/dev/null

# While it runs, the agent is in its cgroup; a cancel ends everything in it.
id=$(relay job add --repo acme/app --executor codex --identifier C-2 --prompt "scenario=slow sleep=120")
runner_bg "$T/run2.log" run --once --workspace-root "$WS" --git-clone-base-url "$T/remotes" \
	--cancellation-poll-interval-ms 1000 --agent-pids-max 64
check "the job's cgroup appears, with the agent in it" wait_for 15 grep -q . "$BASE/job-$id/cgroup.procs"
# The agent, not its supervisor (which stays outside the cgroup, beside the runner).
apid=$(pgrep -f -- "--cd $WS/" | while read -r p; do grep -qa __supervise "/proc/$p/cmdline" || echo "$p"; done | head -n 1)
check "the agent runs" test -n "$apid"
check_eq "inside the job's cgroup" "0::/delego-runner.$NAME/job-$id" "$(grep '^0::' "/proc/${apid:-1}/cgroup" 2>/dev/null)"
if grep -qw pids "$MNT/cgroup.controllers"; then
	check_eq "with pids.max" 64 "$(cat "$BASE/job-$id/pids.max" 2>/dev/null)"
fi
relay job cancel "$id" >/dev/null
wait_exit "$RUNNER_PID" 30
check_eq "the runner ends the cancelled job and exits" 0 "$EXIT"
check "the agent is gone" wait_for 5 gone "${apid:-1}"
check "its cgroup too" test ! -d "$BASE/job-$id"

# Process groups only: the setsid'd daemon escapes the group kill and outlives the job.
rm -f "$HOME/fake-agent-daemon.pid"
id=$(relay job add --repo acme/app --executor claude --identifier C-3 --prompt "scenario=daemonize sleep=300")
run_once "$T/run3.log" --containment process-group --agent-pids-max 64
show "$id"
check_contains "the runner says it uses process groups" "containment: process groups, as configured" "$T/run3.log"
check_contains "and that the limit cannot apply" "--agent-pids-max cannot apply without cgroups" "$T/run3.log"
check_eq "daemonize job completed" completed "$(f "d['status']")"
dpid=$(cat "$HOME/fake-agent-daemon.pid" 2>/dev/null)
check "the daemon survives the job (what cgroup mode prevents)" alive "${dpid:-1}"
check "no cgroup was made" test ! -d "$BASE"
[ -n "$dpid" ] && kill "$dpid" 2>/dev/null

# Inside the sandbox the agent still joins its cgroup first (the sandbox's shim does it): under
# Landlock (no pid namespace) only the cgroup can end the setsid'd daemon.
in_workspace() { pgrep -x "$1" | while read -r p; do readlink "/proc/$p/cwd"; done | grep -c "^$WS/"; }
no_sleepers() { [ "$(in_workspace sleep)" = 0 ]; }
abi=$(python3 -c 'import ctypes; print(ctypes.CDLL(None).syscall(444, 0, 0, 1))')
for m in landlock bwrap; do
	if [ "$m" = landlock ] && [ "${abi:-0}" -lt 1 ]; then echo "ok - # SKIP landlock: this kernel has none"; continue; fi
	if [ "$m" = bwrap ] && ! bwrap --unshare-all --ro-bind / / true 2>/dev/null; then echo "ok - # SKIP bwrap does not work here"; continue; fi
	id=$(relay job add --repo acme/app --executor claude --identifier "C-$m" --prompt "scenario=daemonize sleep=300")
	DELEGO_SANDBOX_WRITABLE=$HOME run_once "$T/run-$m.log" --sandbox "$m"
	show "$id"
	check_eq "$m: the daemonize job completed in the sandbox" "completed $m" "$(f "d['status'] + ' ' + d['metadata']['sandbox']['mode']")"
	check_contains "$m: with cgroup containment" "containment: cgroup v2" "$T/run-$m.log"
	check "$m: nothing of the daemon is left" wait_for 5 no_sleepers
	check "$m: its cgroup is gone" test ! -d "$BASE/job-$id"
done

# A bad value is a usage error.
runner run --containment sometimes >"$T/bad.log" 2>&1
check_eq "--containment takes auto or process-group" 64 "$?"
check_contains "and says so" "must be auto or process-group" "$T/bad.log"
runner run --agent-memory-max 12Q >"$T/bad.log" 2>&1
check_eq "--agent-memory-max takes a size" 64 "$?"

done_testing
