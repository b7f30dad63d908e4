#!/bin/sh
# A cancel always ends the job: a slow stand-in git (clone, commit, push)
# or gh (pr create) holds each workspace step; a cancel on the relay ends
# that step (its whole process group) within the grace time and the job
# ends `fail` with cancelled=true. SIGTERM to the daemon during a slow push
# ends the daemon within its shutdown grace.
. "$(dirname "$0")/lib.sh"
job_world

REAL_GIT=$(command -v git)
mkdir -p "$T/slowbin"
# The step named in $T/slow-op sleeps (in a child of its own group) before the real command.
cat >"$T/slowbin/git" <<EOF2
#!/bin/sh
op=\$(cat "$T/slow-op" 2>/dev/null)
case " \$* " in
*" \$op "*) if [ -n "\$op" ]; then echo \$\$ >"$T/slow.pid"; sleep 61; fi ;;
esac
exec "$REAL_GIT" "\$@"
EOF2
cat >"$T/slowbin/gh" <<EOF2
#!/bin/sh
case "\$(cat "$T/slow-op" 2>/dev/null) \$1 \$2" in
"pr-create pr create") echo \$\$ >"$T/slow.pid"; sleep 61 ;;
esac
exec "$FIXTURES/bin/gh" "\$@"
EOF2
chmod +x "$T/slowbin/git" "$T/slowbin/gh"
export PATH="$T/slowbin:$PATH"

now() { date +%s; }
slow_running() { test -s "$T/slow.pid" && kill -0 "$(cat "$T/slow.pid")" 2>/dev/null; }
sleepers() { pgrep -f "sleep 61" | wc -l; }
last_fail() {
	relay job show "$1" --json | jsonq "[str(e['metadata'].get('cancelled')) + ' ' + e['summary'] for e in d['events'] if e['kind'] == 'fail'][-1:]"
}

# cancel_during OP LABEL JOB-FLAGS...: a job whose OP is slow, cancelled on the relay once OP runs.
cancel_during() {
	_op=$1; _label=$2; shift 2
	echo "$_op" >"$T/slow-op"; rm -f "$T/slow.pid"
	_id=$(relay job add --repo acme/app --executor claude --identifier "C-$_op" --prompt "scenario=edit" "$@")
	runner_bg "$T/run-$_op.log" run --once --workspace-root "$WS" --git-clone-base-url "$T/remotes" \
		--cancellation-poll-interval-ms 1000
	if ! check "$_label: the slow step runs" wait_for 30 slow_running; then
		kill "$RUNNER_PID" 2>/dev/null; return
	fi
	relay job cancel "$_id" >/dev/null
	_t0=$(now)
	wait_exit "$RUNNER_PID" 20
	_t1=$(now)
	check_eq "$_label: the runner ends the job and exits" 0 "$EXIT"
	check "$_label: within the grace time of the cancel" test $((_t1 - _t0)) -le 7
	check_contains_str "$_label: reported as a cancelled failure" "True Executor was cancelled by relay request." \
		"$(last_fail "$_id")"
	check_eq "$_label: the step's process group is gone" 0 "$(sleepers)"
	echo >"$T/slow-op"
}
check_contains_str() { case "$3" in *"$2"*) ok "$1" ;; *) not_ok "$1: got '$3'" ;; esac; }

cancel_during clone "preparing (clone)"
cancel_during commit "committing"
cancel_during push "pushing" --auto-push
cancel_during pr-create "opening a PR" --auto-push --auto-create-pr

# SIGTERM during a slow push: the daemon ends within its grace.
echo push >"$T/slow-op"; rm -f "$T/slow.pid"
id=$(relay job add --repo acme/app --executor claude --identifier S-1 --prompt "scenario=edit" --auto-push)
runner_bg "$T/daemon.log" run --workspace-root "$WS" --git-clone-base-url "$T/remotes" --shutdown-grace-ms 1000
if check "daemon: the slow push runs" wait_for 30 slow_running; then
	kill -TERM "$RUNNER_PID"
	t0=$(now)
	wait_exit "$RUNNER_PID" 30
	t1=$(now)
	check "daemon: it exits within the grace (1 s) plus the kill grace (5 s)" test "$EXIT" != timeout -a $((t1 - t0)) -le 8
	check_contains_str "daemon: the job is reported as a cancelled failure" "True Executor was cancelled: the runner is shutting down." \
		"$(last_fail "$id")"
	check_eq "daemon: the push's process group is gone" 0 "$(sleepers)"
else
	kill "$RUNNER_PID" 2>/dev/null
fi

done_testing
