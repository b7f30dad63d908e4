#!/bin/sh
# Ending agents: the timeout (SIGTERM, then SIGKILL for one that ignores
# it), a cancel on the relay seen through jobs/status mid-run (the whole
# process tree goes), a grandchild holding stdout, a detached daemon, a
# closed stdout, huge and garbage output, rate-limited progress.
. "$(dirname "$0")/lib.sh"
job_world

run_once() {
	_log=$1; shift
	timeout 120 $DR_VG "$RUNNER_BIN" run --once --workspace-root "$WS" --git-clone-base-url "$T/remotes" "$@" >"$_log" 2>&1
}
show() { relay job show "$1" --json >"$T/job.json"; }
f() { json "$T/job.json" "$1"; }
now() { date +%s; }
# Processes whose command line names our workspace (codex gets --cd <worktree>), bwrap around them aside.
leftovers() { pgrep -f -- "--cd $WS/" | while read -r p; do [ "$(cat /proc/$p/comm 2>/dev/null)" = bwrap ] || echo "$p"; done | wc -l; }
# The same without the agents' supervisors, whose command line holds the agent's.
agents_only() { pgrep -f -- "--cd $WS/" | while read -r p; do [ "$(cat /proc/$p/comm 2>/dev/null)" = bwrap ] || grep -qa __supervise "/proc/$p/cmdline" || echo "$p"; done | wc -l; }
# Processes working in our workspace: what pid files cannot tell from inside the sandbox's pid namespace.
in_workspace() { pgrep -x "$1" | while read -r p; do readlink "/proc/$p/cwd"; done | grep -c "^$WS/"; }
gone() { ! kill -0 "$1" 2>/dev/null || ps -o stat= -p "$1" | grep -q Z; }

# Timeout: SIGTERM to the group.
id=$(relay job add --repo acme/app --executor codex --identifier T-1 --prompt "scenario=slow sleep=60")
t0=$(now)
run_once "$T/run1.log" --executor-timeout-ms 2000
t1=$(now)
show "$id"
check_eq "timed-out job failed" failed "$(f "d['status']")"
check_eq "timedOut, SIGTERM, no exit code" "True SIGTERM None" "$(f "'%s %s %s' % (d['metadata']['timedOut'], d['metadata']['signal'], d['metadata']['exitCode'])")"
f "d['summary']" >"$T/summary.txt"
check_contains "the summary says it timed out" "Executor timed out after 2 seconds and was terminated." "$T/summary.txt"
check "it ended soon after the timeout" test $((t1 - t0)) -lt 15
check_eq "no agent process left" 0 "$(leftovers)"

# An agent that ignores SIGTERM gets SIGKILL 5 s later.
id=$(relay job add --repo acme/app --executor codex --identifier T-2 --prompt "scenario=ignore-term sleep=120")
t0=$(now)
run_once "$T/run2.log" --executor-timeout-ms 4000
t1=$(now)
show "$id"
check_eq "SIGKILL after the grace time" "True SIGKILL" "$(f "'%s %s' % (d['metadata']['timedOut'], d['metadata']['signal'])")"
check "about 4 s + 5 s" test $((t1 - t0)) -ge 9 -a $((t1 - t0)) -lt 25
check_eq "the stubborn agent is gone" 0 "$(leftovers)"

# Cancellation on the relay, seen through jobs/status while the agent runs.
id=$(relay job add --repo acme/app --executor codex --identifier T-3 --prompt "scenario=slow sleep=120")
runner_bg "$T/run3.log" run --once --workspace-root "$WS" --git-clone-base-url "$T/remotes" --cancellation-poll-interval-ms 1000
running() { relay job show "$id" --json | jsonq "any('still working' in (e['summary'] or '') for e in d['events'])" | grep -q true; }
check "the agent reports progress" wait_for 10 running
check_eq "its process is there" 1 "$(agents_only)"
relay job cancel "$id" >/dev/null
t0=$(now)
wait_exit "$RUNNER_PID" 30
t1=$(now)
check_eq "the runner ends the job and exits" 0 "$EXIT"
check "within a few seconds of the cancel" test $((t1 - t0)) -lt 12
show "$id"
# The relay marked the job cancelled at once; our report lands as its fail event.
check_eq "reported as a cancelled failure" "Executor was cancelled by relay request. True" "$(f "[e['summary'] + ' ' + str(e['metadata']['cancelled']) for e in d['events'] if e['kind'] == 'fail'][-1]")"
check_eq "job status" cancelled "$(f "d['status']")"
check_eq "the process tree is gone" 0 "$(leftovers)"
check "jobs/status was polled" grep -q '"/api/runner/jobs/status"' "$T/requests.jsonl"

# A grandchild holding stdout cannot hang the job, and is killed with the group.
id=$(relay job add --repo acme/app --executor claude --identifier T-4 --prompt "scenario=grandchild")
t0=$(now)
run_once "$T/run4.log"
t1=$(now)
show "$id"
check_eq "grandchild job completed" completed "$(f "d['status']")"
check "without waiting for the grandchild" test $((t1 - t0)) -lt 20
no_sleepers() { [ "$(in_workspace sleep)" = 0 ]; }
check "the grandchild was killed with the group" wait_for 5 no_sleepers

# A daemon that left the group and closed its stdio does not hold the job.
id=$(relay job add --repo acme/app --executor claude --identifier T-5 --prompt "scenario=daemonize sleep=60")
t0=$(now)
run_once "$T/run5.log"
t1=$(now)
show "$id"
check_eq "daemonize job completed" completed "$(f "d['status']")"
check "promptly" test $((t1 - t0)) -lt 20
dpid=$(cat "$HOME/fake-agent-daemon.pid" 2>/dev/null) && [ -n "$dpid" ] && kill "$dpid" 2>/dev/null

# Closed stdout: the job waits for the agent's exit, not just for EOF.
id=$(relay job add --repo acme/app --executor claude --identifier T-6 --prompt "scenario=close-stdout sleep=3")
t0=$(now)
run_once "$T/run6.log"
t1=$(now)
show "$id"
check_eq "close-stdout job completed" completed "$(f "d['status']")"
check "after the agent's exit" test $((t1 - t0)) -ge 3

# Huge output: an over-long line, 8 MiB of events; bounded tails, few progress posts.
id=$(relay job add --repo acme/app --executor claude --identifier T-7 --prompt "scenario=huge mb=8")
run_once "$T/run7.log"
show "$id"
check_eq "huge job completed" completed "$(f "d['status']")"
check_eq "the final reply survived" "Huge output done." "$(f "d['metadata']['assistantResponse']")"
check_eq "the session id survived" true "$(f "len(d['metadata']['sessionId'] or '') == 36")"
check_eq "stdoutTail is bounded to 64 KiB" true "$(f "len(d['metadata']['stdoutTail'].encode()) <= 65536")"
np=$(f "len([e for e in d['events'] if e['kind'] == 'progress'])")
check "progress posts are rate-limited ($np for ~130 events)" test "$np" -lt 15

# Garbage on stdout: ignored, and the reports stay valid JSON.
id=$(relay job add --repo acme/app --executor claude --identifier T-8 --prompt "scenario=garbage")
run_once "$T/run8.log"
show "$id"
check_eq "garbage job completed" completed "$(f "d['status']")"
check_eq "its reply" "Survived the garbage." "$(f "d['metadata']['assistantResponse']")"
check_eq "invalid UTF-8 became U+FFFD" true "$(f "'\ufffd' in d['metadata']['stdoutTail']")"

done_testing
