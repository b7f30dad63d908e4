#!/bin/sh
# Reliability of the daemon around jobs: shutdown grace, a second signal,
# a relay that goes away mid-job and comes back, a revoked credential
# mid-job, and a runner killed with SIGKILL while its agent runs.
. "$(dirname "$0")/lib.sh"
# The stand-ins' pid files are read from outside, and bwrap's pid namespace renumbers them (and
# --die-with-parent ends an agent with its runner): t450 covers what the sandbox changes here.
export DELEGO_SANDBOX=off
job_world

show() { relay job show "$1" --json >"$T/job.json"; }
f() { json "$T/job.json" "$1"; }
status_of() { relay job show "$1" --json | jsonq "d['status']"; }
# agent_pids: pids of stand-in agents still running under this test's HOME.
agent_pids() { pgrep -f "$FIXTURES/bin/" 2>/dev/null | while read -r p; do grep -qs "HOME=$HOME" /proc/$p/environ && echo $p; done; true; }
no_agents() { test -z "$(agent_pids)"; }
start_daemon() {
	_log=$1; shift
	runner_bg "$_log" run --workspace-root "$WS" --git-clone-base-url "$T/remotes" --poll-interval-ms 1000 \
		--heartbeat-interval-ms 2000 --cancellation-poll-interval-ms 1000 "$@"
}
running() { test "$(status_of "$1")" = running; }
status_is() { test "$(status_of "$1")" = "$2"; }
spool_empty() { test -z "$(ls "$XDG_STATE_HOME/delego-runner/default/outbox/" 2>/dev/null)"; }
agent_started() { grep -q "scenario=" "$HOME/fake-agent-calls.jsonl" 2>/dev/null && test -n "$(agent_pids)"; }

# 1. SIGTERM: the running job may finish within the grace.
id=$(relay job add --repo acme/app --executor claude --identifier ENG-1 --prompt "scenario=slow sleep=4")
start_daemon "$T/run1.log" --shutdown-grace-ms 20000
wait_for 20 running "$id"
wait_for 10 agent_started
kill -TERM $RUNNER_PID
wait_exit $RUNNER_PID 30
check_eq "SIGTERM with a job running exits 0 after it finished" 0 "$EXIT"
check_eq "the job finished within the grace" completed "$(status_of "$id")"
check_contains "the runner said it waits for the job" "waiting up to 20000 ms" "$T/run1.log"
rm -f "$HOME/fake-agent-calls.jsonl"

# 2. SIGTERM: the grace ends before the agent does; the job is cancelled and reported.
id=$(relay job add --repo acme/app --executor claude --identifier ENG-2 --prompt "scenario=slow sleep=60")
start_daemon "$T/run2.log" --shutdown-grace-ms 1500
wait_for 20 running "$id"
wait_for 10 agent_started
kill -TERM $RUNNER_PID
wait_exit $RUNNER_PID 20
check_eq "after the grace the runner still exits 0" 0 "$EXIT"
show "$id"
check_eq "the job is reported as cancelled" cancelled "$(f "d['status']")"
check_eq "and as cancelled" true "$(f "d['metadata']['cancelled']")"
check "no agent process is left" wait_for 5 no_agents
rm -f "$HOME/fake-agent-calls.jsonl"

# 3. A second signal cancels at once.
id=$(relay job add --repo acme/app --executor claude --identifier ENG-3 --prompt "scenario=slow sleep=60")
start_daemon "$T/run3.log" --shutdown-grace-ms 60000
wait_for 20 running "$id"
wait_for 10 agent_started
kill -INT $RUNNER_PID
sleep 0.3
kill -INT $RUNNER_PID
wait_exit $RUNNER_PID 15
check_eq "a second signal exits 0 without waiting for the grace" 0 "$EXIT"
check_eq "the job was reported before exit" cancelled "$(status_of "$id")"
check "no agent process is left after the second signal" wait_for 5 no_agents
rm -f "$HOME/fake-agent-calls.jsonl"

# 4. The relay goes away mid-job; the reports wait in the spool and arrive later.
id=$(relay job add --repo acme/app --executor claude --identifier ENG-4 --prompt "scenario=slow sleep=5")
start_daemon "$T/run4.log" --shutdown-grace-ms 60000
wait_for 20 running "$id"
wait_for 10 agent_started
relay_stop
final_spooled() { ls "$XDG_STATE_HOME/delego-runner/default/outbox/" 2>/dev/null | grep -q -- '-final.json$'; }
check "the final report waits in the spool" wait_for 30 final_spooled
check "the runner is still up while the relay is down" kill -0 $RUNNER_PID
sleep 20 # long enough for the reports' own backoff to reach 16-32 s
relay_start || exit 1
t0=$(date +%s)
check "the job completes on the relay once it is back" wait_for 30 status_is "$id" completed
# The first answer from the relay (a heartbeat: every 2 s) sends them; they do not wait out their backoff.
took=$(( $(date +%s) - t0 ))
check "the reports arrive within 6 s of the relay's return (took $took s)" test "$took" -le 6
check "the spool is empty afterwards" wait_for 10 spool_empty
kill -TERM $RUNNER_PID
wait_exit $RUNNER_PID 10
check_eq "and it exits 0 on SIGTERM" 0 "$EXIT"
rm -f "$HOME/fake-agent-calls.jsonl"

# 5. SIGKILL while the agent runs; the next start takes the job over (its supervisor kept it),
# and a cancel then ends the agent and its grandchild.
# The agent (silent, so it survives its broken stdout) has a grandchild in its group.
id=$(relay job add --repo acme/app --executor claude --identifier ENG-5 --prompt "scenario=grandchild sleep=120")
start_daemon "$T/run5.log"
wait_for 20 running "$id"
wait_for 10 agent_started
kill -KILL $RUNNER_PID
wait_exit $RUNNER_PID 5
check "the agent outlives a SIGKILLed runner" test -n "$(agent_pids)"
gc=$(cat "$HOME/fake-agent-grandchild.pid")
check "so does its grandchild" kill -0 "$gc"
start_daemon "$T/run6.log"
check "the next start takes the job over" wait_for 20 grep -q "taking over the agent" "$T/run6.log"
relay job cancel "$id" >/dev/null
check "a cancel still ends it" wait_for 20 status_is "$id" cancelled
show "$id"
check_eq "not reported as interrupted" false "$(f "'runner stopped while the job was running' in d['summary']")"
check "the agent is gone" wait_for 10 no_agents
gone() { ! kill -0 "$1" 2>/dev/null || ps -o stat= -p "$1" | grep -q Z; }
check "its grandchild is gone" wait_for 5 gone "$gc"
check "its worktree is kept" test -d "$WS/worktrees/acme/app/$id"
kill -TERM $RUNNER_PID
wait_exit $RUNNER_PID 10
rm -f "$HOME/fake-agent-calls.jsonl"

# 6. Removed in the dashboard mid-job: stop the agent, keep the worktree, exit 2.
id=$(relay job add --repo acme/app --executor claude --identifier ENG-6 --prompt "scenario=slow sleep=120")
start_daemon "$T/run7.log"
wait_for 20 running "$id"
wait_for 10 agent_started
relay remove "$RUNNER_ID" >/dev/null
wait_exit $RUNNER_PID 20
check_eq "a revoked credential mid-job exits 2" 2 "$EXIT"
check "the agent is stopped" wait_for 5 no_agents
check "the worktree is kept" test -d "$WS/worktrees/acme/app/$id"
check_eq "the relay marked the job failed on remove" failed "$(status_of "$id")"

done_testing
