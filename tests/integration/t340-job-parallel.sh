#!/bin/sh
# Two jobs at once (--max-jobs 2) on one repository: both run side by side,
# share one source cache (its git steps queued one at a time), each in its
# own worktree, and both complete.
. "$(dirname "$0")/lib.sh"
job_world

a=$(relay job add --repo acme/app --executor claude --identifier P-1 --prompt "scenario=slow sleep=5")
b=$(relay job add --repo acme/app --executor codex --identifier P-2 --prompt "scenario=edit" --auto-push)
c=$(relay job add --repo acme/app --executor claude --identifier P-3 --prompt "scenario=slow sleep=5")
runner_bg "$T/run.log" run --max-jobs 2 --poll-interval-ms 1000 --workspace-root "$WS" --git-clone-base-url "$T/remotes"
st() { relay job show "$1" --json | jsonq "d['status']"; }
all_done() { [ "$(st "$a")" = completed ] && [ "$(st "$b")" = completed ] && [ "$(st "$c")" = completed ]; }
check "all three jobs complete" wait_for 60 all_done
kill -TERM "$RUNNER_PID"
wait_exit "$RUNNER_PID" 20
check_eq "the runner exits 0 on SIGTERM" 0 "$EXIT"
python3 - "$T/requests.jsonl" "$a" "$b" "$c" >"$T/overlap.txt" <<'PY'
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
def when(kind, job):
    return [r["t"] for r in reqs if r["path"] == "/api/runner/jobs/" + kind and r["body"].get("jobId") == job]
a_done = min(when("complete", sys.argv[2]) or [0])
b_progress = min(when("progress", sys.argv[3]) or [10**15])
c_progress = min(when("progress", sys.argv[4]) or [10**15])
print("overlap", b_progress < a_done and c_progress < a_done)
PY
check_contains "a second job ran while the first was still running" "overlap True" "$T/overlap.txt"
check_eq "one source cache" 1 "$(ls "$WS/sources/acme" | wc -l)"
check_eq "three job worktrees (and the warm spare)" "3 spare.1" \
	"$(ls "$WS/worktrees/acme/app" | grep -vc '^spare\.') $(ls "$WS/worktrees/acme/app" | grep '^spare\.')"
check_eq "the pushed job's branch is upstream" 1 "$(git --git-dir "$UP" branch --list 'delego/p-2-*' | wc -l)"
check_not_contains "no git lock collision" "index.lock" "$T/run.log"

done_testing
