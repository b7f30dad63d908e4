#!/bin/sh
# Local attacks (another user, a hostile agent, a hostile relay), each
# performed: a secret across every cut point, the pairing token on argv,
# the runner's environ read by its agent, planted directories, escape
# sequences from the relay, "loopback" by prefix. Run as root, it runs
# itself again as a fresh ordinary user (root reads every /proc file).
if [ "$(id -u)" = 0 ] && [ -z "${DR_T445_USER:-}" ]; then
	if ! command -v useradd >/dev/null || ! command -v setpriv >/dev/null; then
		echo "ok 1 - # SKIP needs useradd and setpriv to run as an ordinary user"; exit 0
	fi
	u=drsec$$
	useradd -M -d /nonexistent -s /bin/sh "$u" || { echo "not ok 1 - useradd $u"; exit 1; }
	trap 'userdel "$u" 2>/dev/null' EXIT
	uid=$(id -u "$u")
	env DR_T445_USER="$u" setpriv --reuid="$uid" --regid="$(id -g "$u")" --init-groups \
		sh "$0"
	st=$?
	exit $st
fi
. "$(dirname "$0")/lib.sh"
echo "# running as $(id -un) (uid $(id -u))"
job_world
CREDS=$XDG_CONFIG_HOME/delego-runner/credentials.json
SECRET=sk-ant-api03-QWERTYUIOPASDFGHJKLZXCVBNM01234567
# no_piece FILE: no 8-byte piece of the secret's random part is in FILE.
no_piece() {
	python3 - "$1" "$SECRET" <<'PY'
import sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
s = sys.argv[2][len("sk-ant-api03-"):]
bad = [s[i:i + 8] for i in range(len(s) - 7) if s[i:i + 8] in text]
print("# pieces found: %s" % bad[:3]) if bad else None
sys.exit(1 if bad else 0)
PY
}

# 1. A secret placed across each cut point reaches no report and no log line.
for reply in yes no; do
	id=$(relay job add --repo acme/app --executor claude --identifier CUT-1 --prompt "scenario=secret-at-cuts reply=$reply")
	ANTHROPIC_API_KEY=$SECRET runner run --once --workspace-root "$WS" --git-clone-base-url "$T/remotes" \
		--log-level debug >"$T/cut-$reply.log" 2>&1
	relay job show "$id" --json >"$T/cut-$reply.json"
	check_eq "cuts ($reply reply): the job failed (exit 1)" failed "$(json "$T/cut-$reply.json" "d['status']")"
	check_contains "cuts ($reply reply): the stderr tail was kept" "zzzz" "$T/cut-$reply.json"
	check_contains "cuts ($reply reply): the stderr line was logged" "agent stderr: eeee" "$T/cut-$reply.log"
	check "cuts ($reply reply): no piece of the secret in any report" no_piece "$T/requests.jsonl"
	check "cuts ($reply reply): no piece of the secret in the runner's log" no_piece "$T/cut-$reply.log"
done
check_contains "the failure detail came from stderr's last lines" "yyyy" "$T/cut-no.json"

# 2. The printed pairing command never puts the token on argv, and pairs.
mkdir -p "$T/spy"
cat >"$T/spy/delego-runner" <<SPY
#!/bin/sh
printf '%s\n' "\$*" >>"$T/argv.txt"
exec "$RUNNER_BIN" "\$@"
SPY
chmod +x "$T/spy/delego-runner"
relay pair-token --name spy --json >"$T/pt.json"
tok=$(json "$T/pt.json" "d['token']")
cmd=$(json "$T/pt.json" "d['command']")
PATH="$T/spy:$PATH" sh -c "$cmd --profile spy" >"$T/pair-spy.out" 2>&1
check_eq "the printed command pairs" 0 $?
check_not_contains "... and no argv carried the token" "$tok" "$T/argv.txt"
check_contains "... which went through --pairing-token -" "--pairing-token -" "$T/argv.txt"
tok=$(relay pair-token --name env)
DELEGO_PAIRING_TOKEN=$tok runner pair --relay-url "$RELAY_URL" --profile env >"$T/pair-env.out" 2>&1
check_eq "DELEGO_PAIRING_TOKEN pairs" 0 $?
check_eq "... the profile is stored" true "$(json "$CREDS" "'env' in d['profiles']")"

# 3. The runner's environment is closed to its own agent (same user), even
# without a sandbox (whose pid namespace would hide the runner anyway).
runner_bg "$T/env.log" run --workspace-root "$WS" --git-clone-base-url "$T/remotes" --poll-interval-ms 1000 \
	--sandbox off
RPID=$RUNNER_PID
sleep 0.5
id=$(relay job add --repo acme/app --executor claude --identifier ENV-1 --prompt "scenario=read-environ pid=$RPID")
wait_for 30 test -s "$HOME/environ-probe.txt"
if [ "$(id -u)" = 0 ]; then
	ok "# SKIP root reads every /proc file: the agent check needs an ordinary user"
else
	check_contains "the agent cannot read /proc/<runner>/environ" "denied" "$HOME/environ-probe.txt"
fi
kill -TERM "$RPID"; wait_exit "$RPID" 10
check_eq "the daemon exits 0" 0 "$EXIT"

# 4. Private directories: created 0700, others' writable ones refused.
mode() { stat -c %a "$1"; }
check_eq "the workspace root is 0700" 700 "$(mode "$WS")"
check_eq "the source caches are 0700" 700 "$(mode "$WS/sources")"
check_eq "the worktrees are 0700" 700 "$(mode "$WS/worktrees")"
check_eq "the credentials directory is 0700" 700 "$(mode "$(dirname "$CREDS")")"
check_eq "the state directory is 0700" 700 "$(mode "$XDG_STATE_HOME/delego-runner/default")"
chmod 770 "$XDG_STATE_HOME/delego-runner/default"
runner run --once --workspace-root "$WS" >"$T/state.log" 2>&1
check_eq "a group-writable state directory is refused (exit 78)" 78 $?
check_contains "... with the fix" "chmod 700 $XDG_STATE_HOME/delego-runner/default" "$T/state.log"
chmod 700 "$XDG_STATE_HOME/delego-runner/default"
chmod 777 "$(dirname "$CREDS")"
runner status >"$T/status.out" 2>&1
check_contains "a world-writable credentials directory is refused, with the fix" "chmod 700 $(dirname "$CREDS")" "$T/status.out"
chmod 700 "$(dirname "$CREDS")"
mkdir -p "$T/ws2" && chmod 757 "$T/ws2"
id=$(relay job add --repo acme/app --executor claude --identifier WS-2 --prompt "scenario=success")
runner run --once --workspace-root "$T/ws2" --git-clone-base-url "$T/remotes" >"$T/ws2.log" 2>&1
relay job show "$id" --json >"$T/ws2.json"
check_contains "a workspace root others can write is refused, with the fix" "chmod 700 $T/ws2" "$T/ws2.json"

# 5. Clear text only to this machine: 127.evil.example is a name.
runner pair --relay-url "http://127.evil.example:1" --pairing-token - --profile evil </dev/null 2>"$T/evil.err" <<EOT
drs_pair_x
EOT
check_eq "http://127.evil.example:1 is refused for clear text (exit 64)" 64 $?
check_contains "... saying why" "clear text" "$T/evil.err"

# 6. Escape sequences from outside never reach a terminal or gh.
esc=$(printf '\033')
csi=$(printf '\302\233')
title=$(printf 'Fix \033]0;owned\007 the \302\23331m thing')
id=$(relay job add --repo acme/app --executor claude --identifier ESC-1 --title "$title" --prompt "scenario=edit" \
	--auto-push --auto-create-pr)
runner run --once --workspace-root "$WS" --git-clone-base-url "$T/remotes" >"$T/esc-job.log" 2>&1
python3 - "$HOME/fake-agent-calls.jsonl" >"$T/gh-title.txt" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    a = json.loads(line)["argv"]
    if "create" in a and "--title" in a:
        print(repr(a[a.index("--title") + 1]))
PY
check_eq "the PR title reaches gh without ESC or CSI" "'ESC-1: Fix ]0;owned the 31m thing'" "$(cat "$T/gh-title.txt")"
python3 - >"$T/script.json" <<'PY'
import base64, json
b64 = lambda o: base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()
jwt = b64({"alg": "HS256"}) + "." + b64({"sub": "acc1", "exp": 4102444800}) + ".c2ln"
print(json.dumps({
    "/api/runner/register": [[200, {"runner": {"id": "r1\u001b[2J\u009b31m"}, "bearer": "bearer-123456"}]],
    "/api/runner/heartbeat": [[500, {"error": "down \u009b31m\u001b]0;x"}]],
    "/api/runner/realtime-token": [[200, {"token": jwt, "expiresAt": "2100-01-01T00:00:00Z",
                                          "supabaseUrl": "http://127.evil.example:1"}]]}))
PY
python3 "$FIXTURES/fake-relays/scripted.py" "$T/fake.url" "$T/script.json" "$T/fake.log" &
track_pid $!
wait_for 10 test -s "$T/fake.url"
FAKE=$(cat "$T/fake.url")
runner pair --relay-url "$FAKE" --pairing-token - --profile esc >"$T/esc-pair.out" 2>"$T/esc-pair.err" <<EOT
drs_pair_escape
EOT
check_eq "a runner id with ESC is refused (exit 76)" 76 $?
check_not_contains "... and not echoed raw" "$esc" "$T/esc-pair.err"
check_eq "... nor stored" false "$(json "$CREDS" "'esc' in d['profiles']")"
python3 - "$CREDS" "$FAKE" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["profiles"]["esc"] = {"relayUrl": sys.argv[2], "runnerId": "r1", "bearer": "bearer-123456", "pairedAt": "x"}
json.dump(d, open(sys.argv[1], "w"))
PY
runner_bg "$T/esc-run.log" run --profile esc --workspace-root "$WS" --heartbeat-interval-ms 1000
wait_for 10 grep -q 'down' "$T/esc-run.log"
wait_for 10 grep -q 'supabaseUrl' "$T/esc-run.log"
kill -TERM $RUNNER_PID; wait_exit $RUNNER_PID 10
check_contains "the relay's error is logged with CSI escaped" 'down \u009b31m' "$T/esc-run.log"
check_not_contains "... no raw C1 CSI in the log" "$csi" "$T/esc-run.log"
check_not_contains "... no raw ESC in the log" "$esc" "$T/esc-run.log"
check_contains "a clear-text supabaseUrl to 127.evil.example is refused" "refusing the relay's supabaseUrl 'http://127.evil.example:1'" "$T/esc-run.log"

done_testing
