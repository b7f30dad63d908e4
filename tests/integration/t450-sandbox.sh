#!/bin/sh
# The job sandbox, run by a runner that is an ordinary user (a throwaway
# user when this runs as root): a hostile stand-in agent tries to read the
# planted SSH key, the runner's credentials and its environment, to list and
# write other jobs' worktrees and to write outside; every attempt fails
# under bwrap and under Landlock and works with --sandbox off (so that the
# test can fail). A well-behaved one commits in its worktree, writes its
# state and caches and runs a tool from ~/.local/bin in every mode. Each
# line names the mode it ran.
. "$(dirname "$0")/lib.sh"

RUN_AS=""
if [ "$(id -u)" -eq 0 ]; then
	SB_USER=drsb$$
	useradd -M -d "$HOME" -s /bin/sh "$SB_USER" >/dev/null 2>&1 || { echo "ok 1 - # SKIP cannot useradd"; exit 0; }
	RUN_AS="setpriv --reuid=$SB_USER --regid=$SB_USER --clear-groups --"
	trap 'cleanup; userdel "$SB_USER" 2>/dev/null' EXIT
fi
as_user() { $RUN_AS "$@"; }

job_world
unset DELEGO_SANDBOX_WRITABLE # this test is about HOME being read-only
# What the agent must not reach, and what it may use.
mkdir -p "$HOME/.ssh" "$HOME/.local/bin" "$WS/worktrees/acme/app/other-job"
echo "-----BEGIN OPENSSH PRIVATE KEY----- planted" >"$HOME/.ssh/id_ed25519"
chmod 600 "$HOME/.ssh/id_ed25519"
printf '#!/bin/sh\necho tool ran\n' >"$HOME/.local/bin/sb-tool"
chmod 755 "$HOME/.local/bin/sb-tool"
echo "another job's work" >"$WS/worktrees/acme/app/other-job/README.md"
[ -n "$RUN_AS" ] && chown -R "$SB_USER:$SB_USER" "$T"
check "the runner runs as an ordinary user" test "$(as_user id -u)" -ne 0

# run MODE LOG [flags]: one poll as the ordinary user, with a marker only the runner's environment holds.
run() {
	_m=$1 _log=$2; shift 2
	as_user env SB_MARKER=runner-only SSH_AUTH_SOCK=/tmp/agent.sock "$RUNNER_BIN" run --once --workspace-root "$WS" \
		--git-clone-base-url "$T/remotes" --sandbox "$_m" "$@" >"$_log" 2>&1
}
show() { relay job show "$1" --json >"$T/job.json"; }
f() { json "$T/job.json" "$1"; }
probe() { f "d['metadata']['assistantResponse'] or ''" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

modes="off"
if ! command -v bwrap >/dev/null 2>&1; then
	echo "ok - # SKIP bwrap: bubblewrap is not installed"
elif ! as_user unshare -Ur true 2>/dev/null; then
	echo "ok - # SKIP bwrap: this user cannot make a user namespace (unshare -Ur true fails)"
else
	modes="$modes bwrap"
fi
abi=$(python3 -c 'import ctypes; print(ctypes.CDLL(None).syscall(444, 0, 0, 1))')
if [ "${abi:-0}" -ge 1 ]; then modes="$modes landlock"; else echo "ok - # SKIP landlock: this kernel has none"; fi

n=0
for m in $modes; do
	n=$((n + 1))
	id=$(relay job add --repo acme/app --executor claude --identifier "SBH-$n" --prompt "scenario=sandbox-hostile other=other-job")
	run "$m" "$T/hostile-$m.log"
	check_eq "$m: the hostile job's run exits 0" 0 $?
	show "$id"
	check_eq "$m: the report says sandbox $m" "$m" "$(f "d['metadata']['sandbox']['mode']")"
	check_eq "$m: the prepared progress says it too" true "$(f "any(((e.get('metadata') or {}).get('sandbox') or {}).get('mode') == '$m' for e in d['events'])")"
	want=no what="fails"
	[ "$m" = off ] && want=yes what="works (nothing stops it)"
	check_eq "$m: reading ~/.ssh/id_ed25519 $what" "$want" "$(probe ssh-key)"
	check_eq "$m: reading the runner's credentials.json $what" "$want" "$(probe credentials)"
	# The daemon is non-dumpable: its environ is closed to the agent even without a sandbox.
	check_eq "$m: reading the runner's /proc/PID/environ fails" no "$(probe runner-environ)"
	check_eq "$m: listing the other worktrees $what" "$want" "$(probe list-worktrees)"
	check_eq "$m: writing ~/outside.txt $what" "$want" "$(probe write-home)"
	check_eq "$m: writing into another job's worktree $what" "$want" "$(probe write-other-job)"
	# Not in any mode: the agents' allow-list keeps it for the runner's own git (--agent-env passes it).
	check_eq "$m: SSH_AUTH_SOCK does not reach the agent" no "$(probe ssh-agent)"
	if [ "$m" = off ]; then
		check "off: ~/outside.txt was written" test -f "$HOME/outside.txt"
	else
		check "$m: no ~/outside.txt" test ! -e "$HOME/outside.txt"
		check "$m: the other job's worktree is untouched" test ! -e "$WS/worktrees/acme/app/other-job/pwned.txt"
		check_eq "$m: the report lists ~/.ssh as hidden" true "$(f "'~/.ssh' in d['metadata']['sandbox']['hidden']")"
	fi
	rm -f "$HOME/outside.txt" "$WS/worktrees/acme/app/other-job/pwned.txt"

	id=$(relay job add --repo acme/app --executor claude --identifier "SBB-$n" --prompt "scenario=sandbox-behaved" --auto-push)
	rm -f "$HOME/.claude/x" "$HOME/.cache/x"
	run "$m" "$T/behaved-$m.log"
	check_eq "$m: the well-behaved job's run exits 0" 0 $?
	show "$id"
	check_eq "$m: the well-behaved job completed" completed "$(f "d['status']")"
	check_eq "$m: git add + commit in the worktree work" yes "$(probe commit)"
	check_eq "$m: writing ~/.claude/x works" yes "$(probe claude-state)"
	check_eq "$m: writing ~/.cache/x works" yes "$(probe cache)"
	check_eq "$m: running ~/.local/bin/sb-tool works" yes "$(probe tool)"
	branch=$(f "d['metadata']['branchName']")
	check_eq "$m: the runner reports the agent's commit" true "$(f "d['metadata']['branchHasNewCommits']")"
	check_eq "$m: and pushes it" "Fake agent: commit inside the sandbox" \
		"$(git --git-dir "$UP" log -1 --format=%s "refs/heads/$branch" 2>&1)"
done

# An agent that points its worktree's .git at a repository of its own would get its hooks run by the
# runner's git, outside the sandbox: bwrap mounts the links read-only, and the runner checks them.
for m in $modes; do
	rm -f "$HOME/relink-pwned"
	id=$(relay job add --repo acme/app --executor claude --identifier "SBR-$m" --prompt "scenario=sandbox-relink")
	run "$m" "$T/relink-$m.log"
	show "$id"
	if [ "$m" = off ]; then
		check "off: the agent's hooks ran in the runner's git (what the sandbox stops)" test -e "$HOME/relink-pwned"
		continue
	fi
	check "$m: the agent's hooks did not run" test ! -e "$HOME/relink-pwned"
	check_eq "$m: the job failed, saying why, or the relink was refused" true \
		"$(f "d['status'] == 'failed' and 'changed how its worktree points' in d['summary'] or 'relink=no' in (d['metadata']['assistantResponse'] or '')")"
done

# Timeouts reach an agent inside the sandbox, and nothing of it survives.
for m in $modes; do
	[ "$m" = off ] && continue
	id=$(relay job add --repo acme/app --executor claude --identifier "SBT-$m" --prompt "scenario=slow sleep=30")
	run "$m" "$T/timeout-$m.log" --executor-timeout-ms 1500
	show "$id"
	check_eq "$m: a job over its timeout is reported timed out" true "$(f "d['metadata']['timedOut']")"
	check "$m: nothing of the agent is left running" test -z "$(pgrep -f 'scenario=slow sleep=30')"
done

# status and doctor say which sandbox agents get.
for m in $modes; do last=$m; done
check_eq "status.json names the sandbox of the last run" "$last" \
	"$(json "$XDG_STATE_HOME/delego-runner/default/status.json" "d.get('sandbox')")"
# As the user who owns $T: the runner refuses a HOME another user could plant files in.
as_user "$RUNNER_BIN" doctor --sandbox landlock --json >"$T/doctor.json" 2>&1
check_eq "doctor shows the sandbox" true "$(json "$T/doctor.json" "any(c['check'] == 'sandbox' and c['detail'].startswith('landlock') for c in d['checks'])")"
as_user env PATH=/nonexistent "$RUNNER_BIN" doctor --sandbox bwrap >"$T/doctor.txt" 2>&1
check_contains "doctor: bwrap asked for but missing is a failure with the fix" "apparmor_restrict_unprivileged_userns" "$T/doctor.txt"

# A mode asked for by name that cannot work stops the runner, saying why.
as_user env PATH=/usr/local/sbin:/nonexistent "$RUNNER_BIN" run --once --workspace-root "$WS" --sandbox bwrap \
	>"$T/nobwrap.log" 2>&1
check_eq "--sandbox bwrap without bwrap exits 78" 78 $?
check_contains "and says it is not installed" "bwrap is not installed" "$T/nobwrap.log"
as_user "$RUNNER_BIN" run --sandbox sometimes >"$T/bad.log" 2>&1
check_eq "a bad --sandbox is a usage error" 64 $?
done_testing
