# Shared shell helpers for tests/integration/t*.sh. Source it first:
#     . "$(dirname "$0")/lib.sh"
# Each test runs in a private temporary folder with its own HOME and XDG
# directories, under a clean environment, and prints TAP-like lines
# ("ok N - what" / "not ok N - what") that tests/run.sh counts.
set -u

TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) B=$BUILD ;; *) B=$TOP/$BUILD ;; esac
RUNNER_BIN=$B/delego-runner
RELAY_BIN=$B/delego-relay
FIXTURES=$TOP/tests/fixtures
DR_VG=${DR_VG:-}

T=$(mktemp -d "${TMPDIR:-/tmp}/dr-test.XXXXXX")
export HOME=$T/home XDG_CONFIG_HOME=$T/home/.config XDG_STATE_HOME=$T/home/.local/state \
	XDG_DATA_HOME=$T/home/.local/share XDG_CACHE_HOME=$T/home/.cache
mkdir -p "$HOME"
unset DELEGO_RELAY_URL DELEGO_PAIRING_TOKEN DELEGO_PROFILE DELEGO_CREDENTIALS_PATH JOURNAL_STREAM \
	NOTIFY_SOCKET WATCHDOG_USEC 2>/dev/null || true
export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=Test GIT_AUTHOR_EMAIL=test@example.com \
	GIT_COMMITTER_NAME=Test GIT_COMMITTER_EMAIL=test@example.com

_n=0
_failed=0
_pids=""

ok() { _n=$((_n + 1)); echo "ok $_n - $*"; }
not_ok() { _n=$((_n + 1)); _failed=$((_failed + 1)); echo "not ok $_n - $*"; }
# check "description" command...: ok when the command succeeds.
check() {
	_desc=$1; shift
	if "$@"; then ok "$_desc"; else not_ok "$_desc"; fi
}
# check_eq "description" expected actual
check_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (expected '$2', got '$3')"; fi
}
# check_contains "description" needle file
check_contains() {
	if grep -qF -- "$2" "$3"; then ok "$1"; else not_ok "$1 ('$2' not in $3)"; sed 's/^/    | /' "$3" | tail -n 20; fi
}
check_not_contains() {
	if grep -qF -- "$2" "$3"; then not_ok "$1 ('$2' found in $3)"; else ok "$1"; fi
}

# wait_for SECONDS command...: polls every 50 ms until the command succeeds.
wait_for() {
	_limit=$(( $1 * 20 )); shift
	_i=0
	while [ $_i -lt $_limit ]; do
		if "$@" 2>/dev/null; then return 0; fi
		sleep 0.05
		_i=$((_i + 1))
	done
	return 1
}

# json FILE EXPR: evaluates a Python expression on the parsed JSON as `d`.
json() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); print(json.dumps(v) if isinstance(v,(dict,list,bool)) or v is None else v)' "$1" "$2"
}
# jsonq EXPR: the same on standard input.
jsonq() {
	python3 -c 'import json,sys; d=json.load(sys.stdin); v=eval(sys.argv[1]); print(json.dumps(v) if isinstance(v,(dict,list,bool)) or v is None else v)' "$1"
}

track_pid() { _pids="$_pids $1"; }

# relay_start [extra serve flags]: starts delego-relay on a free loopback
# port with its database under $T; sets RELAY_URL, RELAY_PID, RELAY_DB.
RELAY_DB=$T/relay.db
relay_start() {
	rm -f "$T/relay.url"
	"$RELAY_BIN" serve --db "$RELAY_DB" --listen 127.0.0.1:${RELAY_PORT:-0} --url-file "$T/relay.url" \
		--request-log "$T/requests.jsonl" "$@" >>"$T/relay.log" 2>&1 &
	RELAY_PID=$!
	track_pid $RELAY_PID
	if ! wait_for 10 test -s "$T/relay.url"; then
		echo "relay did not start:"; cat "$T/relay.log"; return 1
	fi
	RELAY_URL=$(cat "$T/relay.url")
	RELAY_PORT=${RELAY_URL##*:}
}
relay_stop() {
	[ -n "${RELAY_PID:-}" ] || return 0
	kill "$RELAY_PID" 2>/dev/null; wait "$RELAY_PID" 2>/dev/null
	RELAY_PID=""
}
# relay ARGS...: the relay's admin command line on the test database.
relay() { "$RELAY_BIN" --db "$RELAY_DB" "$@"; }

# runner ARGS...: the runner binary (under valgrind when DR_VG is set).
runner() { $DR_VG "$RUNNER_BIN" "$@"; }

# runner_bg LOGFILE ARGS...: starts the runner in the background; sets RUNNER_PID.
runner_bg() {
	_log=$1; shift
	$DR_VG "$RUNNER_BIN" "$@" >"$_log" 2>&1 &
	RUNNER_PID=$!
	track_pid $RUNNER_PID
}

# wait_exit PID SECONDS: waits for a background child to exit and sets
# EXIT to its status, or to "timeout" (the child is then left running).
wait_exit() {
	_p=$1; _limit=$(( $2 * 20 )); _i=0
	while [ $_i -lt $_limit ]; do
		_st=$(ps -o stat= -p "$_p" 2>/dev/null)
		case "$_st" in ""|Z*) break ;; esac
		sleep 0.05; _i=$((_i + 1))
	done
	_st=$(ps -o stat= -p "$_p" 2>/dev/null)
	case "$_st" in
	""|Z*) wait "$_p" 2>/dev/null; EXIT=$? ;;
	*) EXIT=timeout ;;
	esac
}

# Raw runner-API calls, for the relay's own tests.

# post PATH BEARER JSON: POSTs to the relay; prints the HTTP status, leaves the answer in $T/ans.json.
post() {
	curl -s -o "$T/ans.json" -w '%{http_code}' -X POST "$RELAY_URL$1" \
		-H 'content-type: application/json' -H "authorization: Bearer $2" --data-binary "$3"
}
# ans EXPR: a Python expression over the last answer.
ans() { json "$T/ans.json" "$1"; }

# register_runner NAME [EXECUTORS_JSON]: mints a token and registers; sets BEARER and RID.
register_runner() {
	_t=$(relay pair-token --name "$1") || return 1
	_ex=${2:-'["claude","codex"]'}
	_s=$(post /api/runner/register "$_t" "{\"pairingToken\":\"$_t\",\"version\":\"9.9.9\",\"supportedExecutors\":$_ex}")
	[ "$_s" = 200 ] || { echo "register failed: $_s $(cat "$T/ans.json")"; return 1; }
	BEARER=$(ans "d['bearer']")
	RID=$(ans "d['runner']['id']")
}

# pair_runner [extra pair flags]: mints a token and pairs the default
# profile against the running relay; sets RUNNER_ID.
pair_runner() {
	_tok=$(relay pair-token --name "test runner") || return 1
	runner pair --relay-url "$RELAY_URL" --pairing-token "$_tok" "$@" >"$T/pair.out" 2>"$T/pair.err" || return 1
	RUNNER_ID=$(json "$XDG_CONFIG_HOME/delego-runner/credentials.json" "d['profiles']['default']['runnerId']")
}

# job_world: what every job test needs: the stand-in agents and gh first on
# PATH, a relay, a paired default profile, and a git upstream acme/app
# (one commit on main) under $T/remotes. Sets WS (a workspace root) and UP.
job_world() {
	export PATH="$FIXTURES/bin:$PATH"
	# The stand-ins keep their call log and pid files in HOME, which the sandbox keeps read-only.
	export DELEGO_SANDBOX_WRITABLE="$HOME"
	WS=$T/ws
	UP=$T/remotes/acme/app.git
	relay_start || exit 1
	pair_runner || { not_ok "pairing"; done_testing; exit 1; }
	git init -q --bare -b main "$UP"
	git init -q -b main "$T/seed"
	(cd "$T/seed" && echo hello > README.md && git add . && git commit -q -m initial && git push -q "$UP" main)
}

# job_seqs ID [LOG]: the seq of each of the job's reports as the relay got
# them (LOG: $T/requests.jsonl, or a scripted relay's log), each eventId
# once (a resend is not counted twice), on one line, then "ok" when they are
# 1, 2, 3, ... (strictly increasing, no gap, no repeat), else "bad".
job_seqs() {
	python3 - "${2:-$T/requests.jsonl}" "$1" <<'PY'
import json, sys
seen, seqs = set(), []
for l in open(sys.argv[1]):
    d = json.loads(l)
    b = d.get("body")
    if isinstance(b, str):
        try:
            b = json.loads(b)
        except ValueError:
            continue
    if isinstance(b, dict) and b.get("jobId") == sys.argv[2] and "eventId" in b and b["eventId"] not in seen:
        seen.add(b["eventId"]); seqs.append(b["seq"])
print(" ".join(str(s) for s in seqs))
print("ok" if seqs == list(range(1, len(seqs) + 1)) else "bad")
PY
}

# now_ms: the wall clock in milliseconds.
now_ms() { python3 -c 'import time; print(int(time.time() * 1000))'; }

cleanup() {
	for p in $_pids; do kill "$p" 2>/dev/null; done
	for p in $_pids; do kill -9 "$p" 2>/dev/null; done
	if [ "${DR_KEEP_TMP:-0}" != 1 ]; then rm -rf "$T"; else echo "# kept $T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# done_testing: the last line of every test file.
done_testing() {
	echo "# $((_n - _failed)) passed, $_failed failed"
	[ "$_failed" -eq 0 ]
}

# launchd_agent_start PLIST: runs the plist's ProgramArguments with its environment and
# log, as launchd does; sets AGENT_PID; $T/agent.rc gets the exit status.
launchd_agent_start() {
	rm -f "$T/agent.pid" "$T/agent.rc"
	python3 - "$1" "$T/agent.pid" "$T/agent.rc" <<'PY' &
import os, plistlib, subprocess, sys
p = plistlib.load(open(sys.argv[1], "rb"))
env = dict(p["EnvironmentVariables"], HOME=os.environ["HOME"])
log = open(p["StandardErrorPath"], "ab")
proc = subprocess.Popen(p["ProgramArguments"], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
open(sys.argv[2] + ".tmp", "w").write(str(proc.pid))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
rc = proc.wait()
open(sys.argv[3] + ".tmp", "w").write(str(rc))
os.rename(sys.argv[3] + ".tmp", sys.argv[3])
PY
	track_pid $!
	wait_for 10 test -s "$T/agent.pid" && AGENT_PID=$(cat "$T/agent.pid")
}
