#!/bin/sh
# Jobs that fail, and what the user reads: the agent's exit code with the
# tail of its stderr, a fatal error line, a missing agent executable, a job
# without repository, hostile job objects, a worktree on another branch.
. "$(dirname "$0")/lib.sh"
job_world

# run_once LOG [flags]: one poll, run the job, deliver the reports, exit (bounded).
run_once() {
	_log=$1; shift
	timeout 120 $DR_VG "$RUNNER_BIN" run --once --workspace-root "$WS" --git-clone-base-url "$T/remotes" "$@" >"$_log" 2>&1
}
show() { relay job show "$1" --json >"$T/job.json"; }
f() { json "$T/job.json" "$1"; }

# The agent fails: exit code and its last stderr lines.
id=$(relay job add --repo acme/app --executor codex --identifier ENG-1 --prompt "scenario=fail")
run_once "$T/run1.log"
check_eq "a failed job still ends the run with 0" 0 $?
show "$id"
check_eq "job failed" failed "$(f "d['status']")"
f "d['summary']" >"$T/summary.txt"
check_contains "the summary gives the exit status" "Codex exited with status 3." "$T/summary.txt"
check_contains "and the agent's stderr" "fake agent: giving up after 3 attempts" "$T/summary.txt"
check_eq "metadata exitCode" 3 "$(f "d['metadata']['exitCode']")"
check_eq "neither cancelled nor timed out" "False False" "$(f "'%s %s' % (d['metadata']['cancelled'], d['metadata']['timedOut'])")"
check_eq "stderrTail kept" true "$(f "'could not reach the model' in d['metadata']['stderrTail']")"
check_eq "no commit after a failure" "None False" "$(f "'%s %s' % (d['metadata']['commitMetadata'], d['metadata']['pushed'])")"

# A fatal line (the selected model has an issue) fails even with exit 0.
id=$(relay job add --repo acme/app --executor claude --identifier ENG-2 --prompt "scenario=fatal-model" --auto-push)
run_once "$T/run2.log"
show "$id"
check_eq "fatal model line fails the job" failed "$(f "d['status']")"
f "d['summary']" >"$T/summary.txt"
check_contains "the summary is the fatal error" "issue with the selected model" "$T/summary.txt"
check_eq "exit code was 0 all the same" 0 "$(f "d['metadata']['exitCode']")"

# The agent's executable is missing.
id=$(relay job add --repo acme/app --executor claude --identifier ENG-3 --prompt "scenario=success")
run_once "$T/run3.log" --claude-command "$T/no-such-claude"
show "$id"
check_eq "missing agent fails the job" failed "$(f "d['status']")"
f "d['summary']" >"$T/summary.txt"
check_contains "it tells the user what to install or set" "Install Claude Code on this machine or set --claude-command" "$T/summary.txt"

# No repository mapped.
printf '{"organizationId":"org-1","agentSessionId":"s-1","repositorySlug":null,"executionPreferences":{"executor":"claude"},"publishingPolicy":{"autoPush":false,"autoCreatePr":false,"prDraft":false},"linearIssue":{"identifier":"ENG-4","title":"t","url":null},"promptSummary":"scenario=success","promptContext":{},"resumeContext":null}' >"$T/norepo.json"
id=$(relay job add --raw "$T/norepo.json")
run_once "$T/run4.log"
show "$id"
check_eq "no repository: failed" failed "$(f "d['status']")"
f "d['summary']" >"$T/summary.txt"
check_contains "it says to map a repository" "Add a Repository Mapping" "$T/summary.txt"
check "nothing written for it" test ! -e "$WS/worktrees/acme/app/$id"

# Hostile job objects: a clear failure each, nothing outside the root, no crash.
before=$(ls "$WS/worktrees/acme/app" | wc -l)
n=0
for raw in \
	'{"organizationId":"o","repositorySlug":"../../etc","executionPreferences":{"executor":"claude"},"publishingPolicy":{"autoPush":false,"autoCreatePr":false,"prDraft":false},"linearIssue":{"identifier":"X-1","title":"t","url":null},"promptSummary":"scenario=edit"}' \
	'{"organizationId":"o","repositorySlug":"-x/app","executionPreferences":{"executor":"claude"},"linearIssue":{"identifier":"X-2"}}' \
	'{"organizationId":"o","repositorySlug":{"a":1},"executionPreferences":{"executor":"claude"}}' \
	'{"organizationId":"o","repositorySlug":"acme/app","executionPreferences":{"executor":"claude"},"publishingPolicy":{"autoPush":false,"autoCreatePr":true,"prDraft":false},"linearIssue":{"identifier":"X-4"}}' \
	'{"organizationId":"o","repositorySlug":"acme/app","executionPreferences":{"executor":"claude","model":"--dangerous"},"linearIssue":{"identifier":"X-5"}}'
do
	n=$((n + 1))
	printf '%s' "$raw" >"$T/raw$n.json"
	id=$(relay job add --raw "$T/raw$n.json")
	run_once "$T/raw$n.log"
	rc=$?
	show "$id"
	check_eq "hostile job $n: the run ends with 0" 0 "$rc"
	check_eq "hostile job $n: failed with a reason" "failed True" "$(f "'%s %s' % (d['status'], len(d['summary'] or '') > 10)")"
done
check_eq "hostile jobs wrote no worktree" "$before" "$(ls "$WS/worktrees/acme/app" | wc -l)"
check_eq "and nothing beside the workspace" "home relay.db remotes seed ws" "$(cd "$T" && ls -d */ relay.db 2>/dev/null | tr -d / | sort | tr '\n' ' ' | sed 's/ $//')"

# A worktree on another branch fails the job and stays as it is.
id=$(relay job add --repo acme/app --executor claude --identifier ENG-7 --prompt "scenario=edit")
wt=$WS/worktrees/acme/app/$id
git --git-dir "$WS/sources/acme/app.git" worktree add -q -b elsewhere "$wt" main
echo mine >"$wt/keep.txt"
run_once "$T/run7.log"
show "$id"
check_eq "a worktree on another branch fails the job" failed "$(f "d['status']")"
f "d['summary']" >"$T/summary.txt"
check_contains "the summary says why" "already exists on branch elsewhere" "$T/summary.txt"
check_contains "and that it was kept" "left alone for inspection" "$T/summary.txt"
check_eq "the other branch is untouched" "elsewhere mine" "$(cd "$wt" && echo "$(git rev-parse --abbrev-ref HEAD) $(cat keep.txt)")"

# A hostile id cannot be reported against; the runner must neither crash
# nor hang (--once ends), and writes nothing named after it.
printf '{"id":"../../evil","organizationId":"o","repositorySlug":"acme/app","executionPreferences":{"executor":"claude"}}' | relay job add --raw - >/dev/null
run_once "$T/evil.log"
check_eq "a job without a usable id: --once still ends with 0" 0 $?
check "nothing named evil anywhere" sh -c "! find '$T' -name evil | grep -q ."

done_testing
