#!/bin/sh
# Workspace lifecycle with real jobs and real git: `workspace ls` says why
# each worktree and cache is kept; `workspace gc` removes exactly the
# finished, clean, pushed worktrees past their retention (and their
# branches), then under a tiny budget the young finished one too, and an
# unused cache; it keeps a dirty worktree, one with an unpushed commit and
# one whose job awaits an answer. A job on a disk below --min-free-bytes
# fails saying how much is missing and what gc would free. The daemon's
# sweep still works after its binary was deleted and replaced on disk.
. "$(dirname "$0")/lib.sh"
export PATH="$FIXTURES/bin:$PATH"
WS=$T/ws

relay_start || exit 1
pair_runner || { not_ok "pairing"; done_testing; exit 1; }
for repo in app other; do
	git init -q --bare -b main "$T/remotes/acme/$repo.git"
	git init -q -b main "$T/seed-$repo"
	(cd "$T/seed-$repo" && echo hello > README.md && git add . && git commit -q -m initial &&
		git push -q "$T/remotes/acme/$repo.git" main)
done

run_once() {
	_log=$1; shift
	timeout 120 $DR_VG "$RUNNER_BIN" run --once --workspace-root "$WS" --git-clone-base-url "$T/remotes" "$@" >"$_log" 2>&1
}
job() { relay job add --repo "${REPO:-acme/app}" --executor claude --identifier "$1" --prompt "$2" ${3:-}; }
status_of() { relay job show "$1" --json | jsonq "d['status']"; }
ws() { runner workspace "$@" --workspace-root "$WS"; }
# age DAYS WORKTREE: makes a worktree look last used DAYS days ago (its folder, index, HEAD, reflog, marker).
age() {
	_adm=$(sed -n 's/^gitdir: //p' "$2/.git")
	for _p in "$2" "$_adm/index" "$_adm/HEAD" "$_adm/logs/HEAD" "$2.awaiting"; do
		[ -e "$_p" ] && touch -h -d "$1 days ago" "$_p"
	done
}
state() { ws ls --json | jsonq "[i['state'] for i in d['items'] if i['path'] == '$1'][0]"; }

pushed=$(job P-1 "scenario=edit" --auto-push); run_once "$T/p.log"
dirty=$(job D-1 "scenario=edit"); run_once "$T/d.log" --no-commit
unpushed=$(job U-1 "scenario=edit"); run_once "$T/u.log"
awaiting=$(job A-1 "scenario=ask" --auto-push); run_once "$T/a.log"
young=$(job Y-1 "scenario=success"); run_once "$T/y.log"
check_eq "the jobs ran" "completed completed completed awaiting_input completed" \
	"$(for j in $pushed $dirty $unpushed $awaiting $young; do status_of "$j"; done | paste -sd' ')"
W=$WS/worktrees/acme/app
CACHE=$WS/sources/acme/app.git
check "the awaiting job left its marker beside the worktree" test -f "$W/$awaiting.awaiting"
bp="delego/p-1-$(echo "$pushed" | cut -c1-8)"
bu="delego/u-1-$(echo "$unpushed" | cut -c1-8)"
check "the push was recorded in the cache" git --git-dir "$CACHE" rev-parse --verify -q "refs/delego/pushed/$bp" >/dev/null

for j in $pushed $dirty $unpushed $awaiting; do age 10 "$W/$j"; done

# ls: every entry, its state and why.
ws ls --json >"$T/ls.json"
check_eq "ls: states" "cache:idle $pushed:finished $dirty:dirty $unpushed:unpushed $awaiting:awaiting $young:finished" \
	"$(json "$T/ls.json" "' '.join((i['jobId'] or i['kind']) + ':' + i['state'] for i in sorted(d['items'], key=lambda i: (i['kind'] != 'cache', ['$pushed','$dirty','$unpushed','$awaiting','$young'].index(i['jobId']) if i['jobId'] else 0)))")"
check_eq "ls: only the old finished worktree would go" "$pushed" \
	"$(json "$T/ls.json" "' '.join(i['jobId'] for i in d['items'] if i['remove'])")"
check_eq "ls: a dirty worktree says why it stays" "2 uncommitted change(s); commit and push them, or delete the worktree yourself" \
	"$(json "$T/ls.json" "[i['why'] for i in d['items'] if i['jobId'] == '$dirty'][0]")"
check_eq "ls: an unpushed commit says why it stays" "1 commit(s) that no remote has; push the branch $bu, or delete the worktree yourself" \
	"$(json "$T/ls.json" "[i['why'] for i in d['items'] if i['jobId'] == '$unpushed'][0]")"
check_eq "ls: the awaiting worktree stays" "its job waits for the user's answer (since 10d ago)" \
	"$(json "$T/ls.json" "[i['why'] for i in d['items'] if i['jobId'] == '$awaiting'][0]")"
check_eq "ls: the cache stays while worktrees use it" "4 worktree(s) still use it" \
	"$(json "$T/ls.json" "[i['why'] for i in d['items'] if i['kind'] == 'cache'][0]")"
ws ls >"$T/ls.txt"
check_contains "ls as text names the pushed worktree" "worktrees/acme/app/$pushed" "$T/ls.txt"
check_contains "ls as text says what gc removes" "gc removes it: finished 10d ago, past --worktree-retention-days 7" "$T/ls.txt"

# gc --dry-run removes nothing.
ws gc --dry-run >"$T/dry.txt"
check_contains "dry run says what it would remove" "would remove worktrees/acme/app/$pushed" "$T/dry.txt"
check "dry run removed nothing" test -d "$W/$pushed"

# gc: exactly the old, finished, pushed worktree and its branch.
ws gc >"$T/gc.txt"
check_eq "gc exits 0" 0 $?
check_contains "gc reports the removal" "removed worktrees/acme/app/$pushed" "$T/gc.txt"
check_contains "gc reports the dirty worktree it keeps" "kept worktrees/acme/app/$dirty" "$T/gc.txt"
check_contains "gc reports the unpushed worktree it keeps" "kept worktrees/acme/app/$unpushed" "$T/gc.txt"
check "the pushed worktree is gone" test ! -e "$W/$pushed"
check_eq "git forgot it" "" "$(git --git-dir "$CACHE" worktree list --porcelain | grep -F "$pushed")"
check_eq "its pushed branch is gone" "" "$(git --git-dir "$CACHE" branch --list "$bp")"
check_eq "its push record is gone" "" "$(git --git-dir "$CACHE" for-each-ref "refs/delego/pushed/$bp")"
check "the dirty worktree is kept, changes and all" test -f "$W/$dirty/fake-agent-output.txt"
check "the unpushed worktree is kept" test -d "$W/$unpushed"
check_eq "with its branch" "1" "$(git --git-dir "$CACHE" branch --list "$bu" | wc -l | tr -d ' ')"
check "the awaiting worktree is kept" test -d "$W/$awaiting"
check "the young finished worktree is kept" test -d "$W/$young"
check "the upstream still has the pushed branch" git --git-dir "$T/remotes/acme/app.git" rev-parse --verify -q "refs/heads/$bp" >/dev/null

# A tiny budget: the young finished worktree goes (oldest-first pressure); the rest stays, and gc says so.
ws gc --workspace-budget-bytes 1 --json >"$T/budget.json"
check_eq "budget: only the finished worktree went" "$young" "$(json "$T/budget.json" "' '.join(i['jobId'] or i['kind'] for i in d['items'] if i['removed'])")"
check_eq "budget: gc says the budget cannot be met" true "$(json "$T/budget.json" "d['pressureLeft']")"
check "budget: the dirty worktree is still there" test -d "$W/$dirty"
check "budget: the awaiting worktree is still there" test -d "$W/$awaiting"
check "budget: the cache is still there" test -d "$CACHE"
check_eq "budget: gc also takes K/M/G sizes" 0 "$(ws gc --workspace-budget-bytes 5G --dry-run >/dev/null; echo $?)"

# An unused cache: its only worktree is finished and old, the cache older than --cache-retention-days.
REPO=acme/other
other=$(job O-1 "scenario=success"); run_once "$T/o.log"
age 40 "$WS/worktrees/acme/other/$other"
for f in FETCH_HEAD HEAD config; do touch -d "40 days ago" "$WS/sources/acme/other.git/$f"; done
check_eq "the other cache would go after its worktree" "$(printf '%s\n' "$other" cache | sort | paste -sd' ')" \
	"$(ws gc --dry-run --json | jsonq "' '.join(sorted(i['jobId'] or i['kind'] for i in d['items'] if i['remove']))")"
check_eq "a cache used 40 days ago is kept with --cache-retention-days 60" "$other" \
	"$(ws gc --dry-run --json --cache-retention-days 60 | jsonq "' '.join(i['jobId'] or i['kind'] for i in d['items'] if i['remove'])")"
ws gc >"$T/gc2.txt"
check "the unused cache is gone" test ! -e "$WS/sources/acme/other.git"
check "its worktree folder is gone" test ! -e "$WS/worktrees/acme/other"
check "the used cache stays" test -d "$CACHE"
check "nothing outside sources/ and worktrees/ was touched" test -d "$T/remotes/acme/other.git"

# The awaiting job is answered and completes: its marker goes, and it becomes an ordinary worktree.
relay job answer "$awaiting" "Use SQLite" >/dev/null
run_once "$T/a2.log"
check_eq "the answered job completed" completed "$(status_of "$awaiting")"
check "its marker is gone" test ! -e "$W/$awaiting.awaiting"
check_eq "it is no longer awaiting" "finished" "$(state "worktrees/acme/app/$awaiting")"

# A job on a disk with less than --min-free-bytes available fails and says what gc would free.
REPO=acme/app
full=$(job F-1 "scenario=edit" --auto-push)
run_once "$T/full.log" --min-free-bytes 1000000T
relay job show "$full" --json >"$T/full.json"
check_eq "the job failed" failed "$(json "$T/full.json" "d['status']")"
check_contains "it says free space is short" "Not enough free disk space for a new worktree" "$T/full.json"
check_contains "it says how much is needed" "--min-free-bytes asks for 976.6 PiB" "$T/full.json"
check_contains "it says what gc would free" "\`delego-runner workspace gc\` would free" "$T/full.json"
check_contains "it says what is kept" "1 with uncommitted changes" "$T/full.json"
check "no worktree was cut for it" test ! -e "$W/$full"

# The daemon's sweep does not run our program again: with the binary deleted and replaced on disk
# (a package upgrade), the sweep after a job still removes its finished worktree. (Process-group
# containment: the cgroup shim still starts agents through our own path, which this does not cover.)
WS2=$T/ws2
mkdir -p "$T/oldbin"
cp "$RUNNER_BIN" "$T/oldbin/delego-runner"
# As a package installs it: the agents' exec shim beside the runner.
cp "$(dirname "$RUNNER_BIN")/delego-runner-exec" "$T/oldbin/"
$DR_VG "$T/oldbin/delego-runner" run --workspace-root "$WS2" --git-clone-base-url "$T/remotes" \
	--worktree-retention-days 0 --log-level info --containment process-group >"$T/daemon.log" 2>&1 &
DPID=$!
track_pid $DPID
check "the daemon started" wait_for 20 grep -q "starting" "$T/daemon.log"
rm -f "$T/oldbin/delego-runner"
printf '#!/bin/sh\nexit 3\n' >"$T/oldbin/delego-runner"; chmod +x "$T/oldbin/delego-runner"
up=$(job G-1 "scenario=edit" --auto-push)
check "the job ran" wait_for 120 grep -q "job $up finished" "$T/daemon.log"
check_eq "it completed" completed "$(status_of "$up")"
check "the sweep after it removed its worktree" wait_for 30 test ! -e "$WS2/worktrees/acme/app/$up"
check_contains "and said so in the log" "workspace gc: removed worktrees/acme/app/$up" "$T/daemon.log"
check "no sweep failed" sh -c "! grep -q 'cannot start the sweep\|sweep failed\|sweep ended with' '$T/daemon.log'"
kill -TERM $DPID
wait_exit $DPID 30
check_eq "the daemon exits on SIGTERM" 0 "$EXIT"

done_testing
