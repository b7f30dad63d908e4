#!/bin/sh
# Crash: the daemon SIGKILLed mid-job and started again takes the job over
# through the agent's supervisor: the job completes once, with the agent's
# real reply and changes, and one agent was ever started. An agent that
# ended while no runner was there is reported with its real exit status
# and reply.
. "$(dirname "$0")/lib.sh"
job_world
start() { runner_bg "$1" run --workspace-root "$WS" --git-clone-base-url "$T/remotes" --log-level debug; }
show() { relay job show "$1" --json >"$T/job.json"; }
f() { json "$T/job.json" "$1"; }
status_of() { relay job show "$1" --json | jsonq "d['status']"; }
is_done() { case "$(status_of "$1")" in completed|failed|cancelled) return 0 ;; esac; return 1; }
progressed() { relay job show "$1" --json | jsonq "any('still working (${2}/' in (e['summary'] or '') for e in d['events'])" | grep -q true; }
agents() { grep -c 'scenario=slow' "$HOME/fake-agent-calls.jsonl"; }
journal=$XDG_STATE_HOME/delego-runner/default/jobs

# 1. Killed mid-job, started again while the agent still runs.
id=$(relay job add --repo acme/app --executor codex --identifier C-1 --prompt "scenario=slow sleep=8 edit=1")
start "$T/run1.log"
check "the agent runs" wait_for 30 progressed "$id" 2
check "its supervisor keeps its output in the job's state directory" test -s "$journal/$id.d/stdout"
kill -KILL "$RUNNER_PID"; wait "$RUNNER_PID" 2>/dev/null
sup=$(json "$journal/$id.json" "d['agent'].split(':')[0]")
check "the supervisor outlives the runner" kill -0 "$sup"
start "$T/run2.log"
check "the job ends after the restart" wait_for 40 is_done "$id"
show "$id"
check_eq "it completed" completed "$(f "d['status']")"
check_eq "with the agent's real reply" "Done after 8 seconds." "$(f "d['metadata']['assistantResponse']")"
check_eq "and its changes" true "$(f "'README.md' in ' '.join(d['metadata'].get('changedFiles') or [])")"
check_eq "exit code 0" 0 "$(f "d['metadata']['exitCode']")"
check_eq "one agent was ever started" 1 "$(agents)"
check_eq "one terminal report" 1 "$(f "len([e for e in d['events'] if e['kind'] in ('complete', 'fail')])")"
check_not_contains "not reported as interrupted" "stopped while the job was running" "$T/job.json"
# Every report's seq, in the order the relay got them, and the progress lines.
seqs() { python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    b = d.get("body")
    if isinstance(b, dict) and b.get("jobId") == sys.argv[2] and d["path"].startswith("/api/runner/jobs/") and "seq" in b:
        print(b["seq"], b.get("summary") or "")' "$T/requests.jsonl" "$1"; }
seqs "$id" >"$T/seqs"
check "seq strictly increasing across the restart" python3 -c 'import sys
s = [int(l.split()[0]) for l in open(sys.argv[1])]
sys.exit(0 if all(a < b for a, b in zip(s, s[1:])) else 1)' "$T/seqs"
check_eq "no progress line reported twice" 0 "$(grep -o 'still working ([0-9]*/8)' "$T/seqs" | sort | uniq -d | wc -l)"
check_contains "the new run took the job over" "taking over the agent the previous run started" "$T/run2.log"
check "the journal entry is gone" wait_for 5 test ! -e "$journal/$id.json"
check "and the supervisor's files" test ! -e "$journal/$id.d"
kill -TERM "$RUNNER_PID"; wait_exit "$RUNNER_PID" 30

# 2. The agent ends (exit 5) while no runner is there.
id=$(relay job add --repo acme/app --executor codex --identifier C-2 --prompt "scenario=slow sleep=3 exit=5")
start "$T/run3.log"
check "the second agent runs" wait_for 30 progressed "$id" 1
kill -KILL "$RUNNER_PID"; wait "$RUNNER_PID" 2>/dev/null
check "it ends alone and its supervisor records the status" wait_for 15 test -s "$journal/$id.d/exit"
check_eq "exit status 5 recorded" "5 0" "$(cat "$journal/$id.d/exit")"
start "$T/run4.log"
check "reported after the restart" wait_for 30 is_done "$id"
show "$id"
check_eq "as failed" failed "$(f "d['status']")"
check_eq "with its real exit status" 5 "$(f "d['metadata']['exitCode']")"
check_eq "and its reply" "Done after 3 seconds." "$(f "d['metadata']['assistantResponse']")"
check_not_contains "not as interrupted" "stopped while the job was running" "$T/job.json"
check_eq "two agents in all" 2 "$(agents)"
kill -TERM "$RUNNER_PID"; wait_exit "$RUNNER_PID" 30
check_eq "the runner exits cleanly" 0 "$EXIT"
done_testing
