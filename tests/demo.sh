#!/bin/sh
# make demo: the whole system on this machine. Starts delego-relay in a
# temporary folder, pairs a runner, enqueues a job on a small local git
# repository with a stand-in Claude (the real one needs an account), runs
# it to a commit pushed to a local "upstream", prints what happened and the
# Runners panel URL, and shuts down cleanly. DEMO_KEEP=1 keeps the relay
# and the runner running until Ctrl-C.
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) B=$BUILD ;; *) B=$TOP/$BUILD ;; esac
D=$(mktemp -d "${TMPDIR:-/tmp}/delego-demo.XXXXXX")
# A private home: the demo never touches your real credentials or workspace.
export HOME=$D/home XDG_CONFIG_HOME=$D/home/.config XDG_STATE_HOME=$D/home/.local/state XDG_DATA_HOME=$D/home/.local/share
mkdir -p "$HOME"
relay_pid=""
runner_pid=""

step() { printf '\n== %s\n' "$*"; }
cleanup() {
	[ -n "$runner_pid" ] && kill -TERM "$runner_pid" 2>/dev/null && wait "$runner_pid" 2>/dev/null
	[ -n "$relay_pid" ] && kill -TERM "$relay_pid" 2>/dev/null && wait "$relay_pid" 2>/dev/null
	rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
relay() { "$B/delego-relay" --db "$D/relay.db" "$@"; }
field() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

step "starting delego-relay"
"$B/delego-relay" serve --db "$D/relay.db" --listen "127.0.0.1:${DEMO_PORT:-0}" --url-file "$D/relay.url" \
	>"$D/relay.log" 2>&1 &
relay_pid=$!
i=0
while [ ! -s "$D/relay.url" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$D/relay.url" ] || { cat "$D/relay.log"; exit 1; }
url=$(cat "$D/relay.url")
panel=$(grep -o 'http://[^ ]*#token=[^ ]*' "$D/relay.log" | head -n 1)
echo "relay listening on $url"

step "a small repository with a local upstream"
git init -q --bare -b main "$D/remotes/demo/hello.git"
git init -q -b main "$D/seed"
(cd "$D/seed" && printf '# hello\n\nA tiny project for the delego demo.\n' >README.md &&
	git add README.md && git -c user.name=Demo -c user.email=demo@example.com commit -q -m "initial commit" &&
	git push -q "$D/remotes/demo/hello.git" main)
echo "upstream: $D/remotes/demo/hello.git"

step "pairing a runner (as the dashboard's Pair dialog would)"
token=$(relay pair-token --name "demo laptop" --executors claude)
"$B/delego-runner" pair --relay-url "$url" --pairing-token "$token" --workspace-root "$D/workspace" \
	--supported-executors claude

step "enqueueing a job: DEMO-1, executor claude"
job=$(relay job add --repo demo/hello --executor claude --identifier DEMO-1 --title "Add a greeting" \
	--url https://linear.app/demo/issue/DEMO-1 --prompt "Add a greeting to the README. scenario=edit" --auto-push)
echo "job $job queued"

step "running the runner daemon"
"$B/delego-runner" run --claude-command "$TOP/tests/fixtures/bin/claude" --git-clone-base-url "$D/remotes" \
	--heartbeat-interval-ms 5000 >"$D/runner.log" 2>&1 &
runner_pid=$!
status=queued
i=0
while [ $i -lt 600 ]; do
	status=$(relay job show "$job" --json | field "d['status']")
	case "$status" in completed | failed | cancelled) break ;; esac
	sleep 0.1
	i=$((i + 1))
done
sed 's/^/  runner | /' "$D/runner.log"

step "what happened"
relay job show "$job" --json >"$D/job.json"
field "'status:   ' + d['status']" <"$D/job.json"
field "'summary:  ' + d['summary']" <"$D/job.json"
field "'branch:   ' + str(d['metadata'].get('branchName'))" <"$D/job.json"
field "'commit:   ' + str((d['metadata'].get('commitMetadata') or {}).get('shortSha')) + ' ' + str((d['metadata'].get('commitMetadata') or {}).get('subject'))" <"$D/job.json"
field "'changed:  ' + ', '.join(d['metadata'].get('changedFiles') or [])" <"$D/job.json"
field "'pushed:   ' + str(d['metadata'].get('pushed'))" <"$D/job.json"
field "'events:\n' + '\n'.join('  - ' + e['summary'] for e in d['events'])" <"$D/job.json"
branch=$(field "d['metadata'].get('branchName') or ''" <"$D/job.json")
if [ -n "$branch" ] && git --git-dir "$D/remotes/demo/hello.git" rev-parse -q --verify "refs/heads/$branch" >/dev/null; then
	echo "upstream has $branch:"
	git --git-dir "$D/remotes/demo/hello.git" log -1 --stat --format='  %h %s (%an)' "refs/heads/$branch" | sed 's/^/  /'
fi
relay runners

step "the Runners panel"
echo "$panel"
if [ "${DEMO_KEEP:-0}" = 1 ]; then
	echo "DEMO_KEEP=1: relay and runner keep running; press Ctrl-C to stop and clean up."
	wait "$runner_pid" || true
	runner_pid=""
fi

step "shutting down"
kill -TERM "$runner_pid"
wait "$runner_pid" && echo "runner exited 0"
runner_pid=""
[ "$status" = completed ] || { echo "demo job ended as $status"; exit 1; }
echo "demo done"
