#!/bin/sh
# A job from claim to complete against the real relay, with the stand-in
# agents and gh first on PATH, a real git upstream in a temporary folder:
# edit + commit + push + pull request, correct changed-file paths, no-change
# success, an agent that commits itself, --no-commit, an existing pull
# request, and a fresh fetch before every new worktree.
. "$(dirname "$0")/lib.sh"
job_world

# run_once LOG [flags]: one poll, run the job, deliver the reports, exit.
run_once() {
	_log=$1; shift
	runner run --once --workspace-root "$WS" --git-clone-base-url "$T/remotes" "$@" >"$_log" 2>&1
}
show() { relay job show "$1" --json >"$T/job.json"; }
f() { json "$T/job.json" "$1"; }

# 1. edit, commit, push, pull request.
id=$(relay job add --repo acme/app --executor claude --identifier ENG-1 --title "Fix   the
thing" --url https://linear.app/x/ENG-1 --prompt "scenario=edit" --auto-push --auto-create-pr)
DELEGO_SECRET_PROBE=leak run_once "$T/run1.log"
check_eq "the run exits 0" 0 $?
show "$id"
branch="delego/eng-1-$(echo "$id" | cut -c1-8)"
check_eq "job completed" completed "$(f "d['status']")"
check_eq "summary names the pull request" "Claude executor completed successfully and created pull request https://github.com/acme/app/pull/1." "$(f "d['summary']")"
check_eq "changed files have correct paths" '["README.md", "fake-agent-output.txt"]' "$(f "d['metadata']['changedFiles']")"
check_eq "changed file count" 2 "$(f "d['metadata']['changedFileCount']")"
check_eq "branch name" "$branch" "$(f "d['metadata']['branchName']")"
check_eq "commit subject folds the title" "ENG-1: Fix the thing" "$(f "d['metadata']['commitMetadata']['subject']")"
sha=$(f "d['metadata']['commitMetadata']['sha']")
check_eq "the commit is HEAD" "$sha" "$(f "d['metadata']['headSha']")"
check_eq "shortSha is 12 characters" 12 "$(f "len(d['metadata']['commitMetadata']['shortSha'])")"
check_eq "the branch reached the upstream" "$sha" "$(git --git-dir "$UP" rev-parse "refs/heads/$branch" 2>&1)"
check_eq "pushed" true "$(f "d['metadata']['pushed']")"
check_eq "prMetadata" '{"url": "https://github.com/acme/app/pull/1", "number": 1, "title": "ENG-1: Fix the thing", "branchName": "'"$branch"'", "draft": false, "repositorySlug": "acme/app", "pushed": true}' "$(f "d['metadata']['prMetadata']")"
check_eq "nothing left uncommitted" 0 "$(f "d['metadata']['remainingChangeCount']")"
check_eq "the assistant's reply" "Edited the files the task asked for." "$(f "d['metadata']['assistantResponse']")"
check_eq "the session id" true "$(f "len(d['metadata']['sessionId'] or '') == 36")"
check_eq "startingSha is the upstream main" "$(git --git-dir "$UP" rev-parse main)" "$(f "d['metadata']['startingSha']")"
check_eq "the metadata has the protocol's keys" "assistantResponse attemptId branchHasNewCommits branchName cancelled changedFileCount changedFiles commitMetadata createCommit executionPreferences exitCode headSha prMetadata publishingPolicy pushed remainingChangeCount remainingChanges repositoryPath repositorySlug sandbox sessionId signal sourceRepositoryPath stalled startingSha stderrTail stdoutTail timedOut worktreePath" "$(f "' '.join(sorted(d['metadata'].keys()))")"
git --git-dir "$UP" log -1 --format=%B "refs/heads/$branch" >"$T/body.txt"
check_contains "commit body names the issue" "Linear issue: ENG-1" "$T/body.txt"
check_contains "commit body lists README.md whole" "- README.md" "$T/body.txt"
check_eq "progress: workspace prepared" true "$(f "any(e['summary'] == 'Prepared local workspace for claude execution.' and e['metadata']['branchName'] == '$branch' for e in d['events'])")"
check_eq "progress: publishing" true "$(f "any(e['summary'] == 'Publishing branch with local git credentials.' for e in d['events'])")"
check_eq "progress: the agent's edits" true "$(f "any(e['summary'].startswith('Claude: ') for e in d['events'])")"
check_eq "gh got a non-draft PR for the branch" "$branch False" "$(python3 -c "import json; p=[json.loads(l) for l in open('$HOME/gh-prs.jsonl')][-1]; print(p['headRefName'], p['isDraft'])")"
python3 - "$HOME/fake-agent-calls.jsonl" >"$T/calls.txt" <<'PY'
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1])]
agent = [c for c in calls if c["argv"][0].endswith("claude")][0]
print("delego-vars", sorted(k for c in calls for k in c["env"] if k.startswith("DELEGO")))
print("probe", any("DELEGO_SECRET_PROBE" in c["env"] for c in calls))
print("cwd-is-worktree", agent["cwd"].endswith("/worktrees/acme/app/" + sys.argv[1].split("/")[-1]) or "/worktrees/acme/app/" in agent["cwd"])
print("args", agent["argv"][1:6])
print("gh-has-token-env-only-if-set", "GH_TOKEN" not in [k for c in calls for k in c["env"]])
PY
check_contains "no DELEGO_* variable reaches a child" "delego-vars []" "$T/calls.txt"
check_contains "the agent runs in the job worktree" "cwd-is-worktree True" "$T/calls.txt"
check_contains "claude gets its default arguments" "args ['--print', '--verbose', '--output-format', 'stream-json', '--dangerously-skip-permissions']" "$T/calls.txt"

# 2. A later job starts from a fresh fetch; no change is a success without commit.
(cd "$T/seed" && echo again >> README.md && git commit -q -am "upstream moves" && git push -q "$UP" main)
id2=$(relay job add --repo acme/app --executor codex --identifier ENG-2 --prompt "scenario=success" --auto-push)
run_once "$T/run2.log"
show "$id2"
check_eq "no-change job completed" completed "$(f "d['status']")"
check_eq "no-change summary" "Codex executor completed successfully with no repository changes." "$(f "d['summary']")"
check_eq "the new worktree starts from the fetched upstream" "$(git --git-dir "$UP" rev-parse main)" "$(f "d['metadata']['startingSha']")"
check_eq "nothing pushed" "False None" "$(f "'%s %s' % (d['metadata']['pushed'], d['metadata']['commitMetadata'])")"

# 3. The agent commits itself: HEAD is described and pushed.
id3=$(relay job add --repo acme/app --executor claude --identifier ENG-3 --prompt "scenario=commit" --auto-push)
run_once "$T/run3.log"
show "$id3"
b3="delego/eng-3-$(echo "$id3" | cut -c1-8)"
check_eq "agent-commit job completed" completed "$(f "d['status']")"
check_eq "agent-commit summary" "Claude executor completed successfully and pushed $b3 (HEAD $(f "d['metadata']['commitMetadata']['shortSha']"))." "$(f "d['summary']")"
check_eq "its commit is described" "Fake agent: commit its own work" "$(f "d['metadata']['commitMetadata']['subject']")"
check_eq "files of the agent's commit" '["README.md", "fake-agent-output.txt"]' "$(f "d['metadata']['commitMetadata']['changedFiles']")"
check_eq "branchHasNewCommits" true "$(f "d['metadata']['branchHasNewCommits']")"
check_eq "pushed to the upstream" "$(f "d['metadata']['headSha']")" "$(git --git-dir "$UP" rev-parse "refs/heads/$b3" 2>&1)"

# 4. --no-commit leaves the changes in the worktree.
id4=$(relay job add --repo acme/app --executor claude --identifier ENG-4 --prompt "scenario=edit" --auto-push)
run_once "$T/run4.log" --no-commit
show "$id4"
check_eq "no-commit summary" "Claude executor completed successfully with 2 changed file(s); local commit creation is disabled." "$(f "d['summary']")"
check_eq "no-commit keeps the changes" "2 False False" "$(f "'%s %s %s' % (d['metadata']['remainingChangeCount'], d['metadata']['createCommit'], d['metadata']['pushed'])")"

# 5. A pull request that already exists is looked up; a draft is asked as a draft.
touch "$HOME/gh-pr-exists"
id5=$(relay job add --repo acme/app --executor claude --identifier ENG-5 --prompt "scenario=edit" --auto-push --auto-create-pr)
run_once "$T/run5.log"
show "$id5"
check_eq "existing PR: completed" completed "$(f "d['status']")"
check_eq "existing PR is reported" "https://github.com/acme/app/pull/1 An existing pull request" "$(f "d['metadata']['prMetadata']['url'] + ' ' + d['metadata']['prMetadata']['title']")"
rm -f "$HOME/gh-pr-exists"
id6=$(relay job add --repo acme/app --executor claude --identifier ENG-6 --prompt "scenario=edit" --auto-push --auto-create-pr --pr-draft)
run_once "$T/run6.log"
show "$id6"
check_eq "draft PR reported as draft" true "$(f "d['metadata']['prMetadata']['draft']")"
check_eq "gh was asked for a draft" True "$(python3 -c "import json; print([json.loads(l) for l in open('$HOME/gh-prs.jsonl')][-1]['isDraft'])")"
check_eq "one source cache for all jobs" 1 "$(ls "$WS/sources/acme" | wc -l)"

done_testing
