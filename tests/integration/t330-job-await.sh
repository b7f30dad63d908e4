#!/bin/sh
# A Claude question: the runner stops the agent as soon as it has the
# question and the session id, reports jobs/await with the worktree kept;
# the user's answer re-queues the same job, which resumes the session in
# the same worktree and completes.
. "$(dirname "$0")/lib.sh"
job_world

run_once() {
	_log=$1; shift
	timeout 120 $DR_VG "$RUNNER_BIN" run --once --workspace-root "$WS" --git-clone-base-url "$T/remotes" "$@" >"$_log" 2>&1
}
show() { relay job show "$1" --json >"$T/job.json"; }
f() { json "$T/job.json" "$1"; }

# The stand-in would wait 60 s after asking: only the runner's stop makes this quick.
id=$(relay job add --repo acme/app --executor claude --identifier Q-1 --title "Add a cache" --prompt "scenario=ask sleep=60" --auto-push)
t0=$(date +%s)
run_once "$T/run1.log"
t1=$(date +%s)
show "$id"
check_eq "the job awaits the user's input" awaiting_input "$(f "d['status']")"
check "the agent was stopped once it had asked" test $((t1 - t0)) -lt 30
check_eq "the question" "Which storage should the cache use?" "$(f "d['awaiting']['question']['question']")"
check_eq "its options" "Redis SQLite" "$(f "' '.join(o['label'] for o in d['awaiting']['question']['options'])")"
session=$(f "d['awaiting']['sessionId']")
check_eq "a session id" true "$(f "len(d['awaiting']['sessionId'] or '') == 36")"
wt=$(f "d['awaiting']['worktreePath']")
check_eq "the worktree path" "$WS/worktrees/acme/app/$id" "$wt"
check_eq "the branch" "delego/q-1-$(echo "$id" | cut -c1-8)" "$(f "d['awaiting']['branchName']")"
check "the worktree is kept" test -d "$wt"
check_eq "no complete or fail report" 0 "$(f "len([e for e in d['events'] if e['kind'] in ('complete', 'fail')])")"
await_body=$(python3 -c "
import json
for l in open('$T/requests.jsonl'):
    r = json.loads(l)
    if r['path'] == '/api/runner/jobs/await':
        print(' '.join(sorted(k for k in r['body'] if k not in ('eventId', 'seq'))))
")
check_eq "the await body has the protocol's keys" "agentSessionId attemptId branchName jobId organizationId question sessionId worktreePath" "$await_body"

# The answer: the same job comes back with resumeContext; same worktree, resumed session.
relay job answer "$id" "Use SQLite" >/dev/null
run_once "$T/run2.log"
show "$id"
check_eq "the resumed job completed" completed "$(f "d['status']")"
check_eq "in the same worktree" "$wt" "$(f "d['metadata']['worktreePath']")"
check_eq "the answer reached the agent" "Use SQLite" "$(cat "$wt/fake-agent-reply.txt" 2>/dev/null)"
check_eq "the session was resumed" "$session" "$(f "d['metadata']['sessionId']")"
python3 - "$HOME/fake-agent-calls.jsonl" "$session" >"$T/resume.txt" <<'PY'
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1]) if '"claude"' in l or 'claude' in l.split('"argv"')[1][:200]]
last = [c for c in calls if c["argv"][0].endswith("claude")][-1]["argv"]
i = last.index("--resume") if "--resume" in last else -1
print("resume", last[i + 1] == sys.argv[2] and last[i + 2] == "Use SQLite" if i >= 0 else False)
PY
check_contains "claude got --resume <session> <answer>" "resume True" "$T/resume.txt"
check_eq "the answer's change was committed and pushed" "fake-agent-reply.txt True" "$(f "' '.join(d['metadata']['changedFiles']) + ' ' + str(d['metadata']['pushed'])")"

done_testing
