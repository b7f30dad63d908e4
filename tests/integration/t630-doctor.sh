#!/bin/sh
# delego-runner doctor against a real relay: every check's ok and FAIL
# sides that can be staged here (tools, root, workspace, credentials
# mode, unreachable relay, rotated credential, clock skew).
. "$(dirname "$0")/lib.sh"

relay_start || exit 1
pair_runner || { not_ok "pairing for the doctor tests"; done_testing; exit 1; }
CREDS=$XDG_CONFIG_HOME/delego-runner/credentials.json

# claude and codex: the stand-ins, which answer --version and the login checks as the real CLIs do.
mkdir -p "$T/bin"
printf '#!/bin/sh\necho "gh version 2.40.0 (2024-01-01)"\n' >"$T/bin/gh"
chmod +x "$T/bin/gh"
export PATH="$T/bin:$FIXTURES/bin:$PATH"

# Root fails when claude is an executor; so the all-ok run offers codex only when root.
exec_opt=""
[ "$(id -u)" -eq 0 ] && exec_opt="--supported-executors codex"
# shellcheck disable=SC2086
runner doctor $exec_opt >"$T/out" 2>"$T/err"
rc=$?
grep -q '^FAIL disk:' "$T/out" && echo "# the disk here is nearly full; doctor reports it"
check_eq "doctor passes on a healthy setup" 0 $rc
check_contains "git found with its version" "ok   git: git version" "$T/out"
check_contains "gh found with its version" "ok   gh: gh version 2.40.0" "$T/out"
check_contains "codex found with its version" "ok   codex: codex-cli 0.171.0 ($FIXTURES/bin/codex)" "$T/out"
check_not_contains "the version line is stdout's, not codex's warning" "WARNING" "$T/out"
check_contains "codex is logged in" "ok   codex login: Logged in using ChatGPT" "$T/out"
check_contains "the workspace can be created" "ok   workspace: $HOME/delego-runner/workspace does not exist yet" "$T/out"
check_contains "the credentials are fine" "ok   credentials: profile default is paired as runner $RUNNER_ID" "$T/out"
check_contains "the relay answers" "ok   relay: $RELAY_URL answered (HTTP 200" "$T/out"
check_contains "the credential is accepted" "ok   credential: accepted by the relay (runner $RUNNER_ID)" "$T/out"
check_contains "the clock agrees with the relay's" "ok   clock: within" "$T/out"
check_contains "containment is reported" "ok   containment:" "$T/out"
check_contains "the sleep inhibitor is reported" "ok   sleep: inhibitor" "$T/out"
check_contains "a closing count" "0 check(s) failed" "$T/out"
check_eq "doctor sent no heartbeat" 0 "$(grep -c '"/api/runner/heartbeat"' "$T/requests.jsonl")"

if [ "$(id -u)" -eq 0 ]; then
	runner doctor >"$T/out" 2>&1
	check_eq "as root with claude, doctor fails" 1 $?
	check_contains "it says claude refuses root" "FAIL user: running as root: claude refuses --dangerously-skip-permissions" "$T/out"
fi

# Logged out (the recorded answers of the real CLIs): a warning each, with the command to run.
: >"$HOME/fake-agent-logged-out"
runner doctor --supported-executors codex,claude >"$T/out" 2>&1
user=$(id -un)
check_contains "claude's version" "ok   claude: 2.1.197 (Claude Code)" "$T/out"
check_contains "claude is not logged in" "warn claude login: claude is not logged in for $user: every Claude job would fail; log it in as $user: run \`claude\` and then /login" "$T/out"
check_contains "codex is not logged in" "warn codex login: codex is not logged in for $user: every Codex job would fail; log it in as $user: run \`codex login\`" "$T/out"
rm -f "$HOME/fake-agent-logged-out"
runner doctor --supported-executors codex,claude >"$T/out" 2>&1
check_contains "claude logged in" "ok   claude login: logged in as $user (claude.ai)" "$T/out"

# shellcheck disable=SC2086
runner doctor $exec_opt --codex-command "$T/nowhere/codex" >"$T/out" 2>&1
check_eq "a missing agent fails doctor" 1 $?
check_contains "it names the missing command and the fix" "FAIL codex: '$T/nowhere/codex' not found; install it" "$T/out"

mkdir -p "$T/plain"; : >"$T/plain/file"
# shellcheck disable=SC2086
runner doctor $exec_opt --workspace-root "$T/plain/file" >"$T/out" 2>&1
check_eq "a workspace that is a file fails doctor" 1 $?
check_contains "it says so" "FAIL workspace: $T/plain/file exists but is not a directory" "$T/out"

chmod 644 "$CREDS"
# shellcheck disable=SC2086
runner doctor $exec_opt >"$T/out" 2>&1
check_eq "a readable credentials file fails doctor" 1 $?
check_contains "it gives the chmod fix" "; chmod 600 $CREDS" "$T/out"
chmod 600 "$CREDS"

# shellcheck disable=SC2086
runner doctor $exec_opt --json >"$T/out.json" 2>"$T/err"
check_eq "doctor --json exits 0 when healthy" 0 $?
check_eq "doctor --json counts failures" 0 "$(json "$T/out.json" "int(d['failures'])")"
check_eq "doctor --json lists the credential check" ok \
	"$(json "$T/out.json" "[c['result'] for c in d['checks'] if c['check']=='credential'][0]")"

# Rotated in the dashboard: 401 means the credential was rejected.
relay rotate "$RUNNER_ID" >/dev/null
# shellcheck disable=SC2086
runner doctor $exec_opt >"$T/out" 2>&1
check_eq "a rotated credential fails doctor" 1 $?
check_contains "it says the credential was rejected" "FAIL credential: rejected by the relay (HTTP 401)" "$T/out"
check_contains "it says how to pair again, the token on standard input" "pair again: printf '%s' drs_pair_... | delego-runner pair --relay-url $RELAY_URL --pairing-token -" "$T/out"

relay_stop
# shellcheck disable=SC2086
runner doctor $exec_opt >"$T/out" 2>&1
check_eq "an unreachable relay fails doctor" 1 $?
check_contains "it says the relay cannot be reached" "FAIL relay: cannot reach $RELAY_URL" "$T/out"

# A relay whose clock is an hour behind ours.
cat >"$T/skewed.py" <<'EOF'
import http.server, sys, time, email.utils
class H(http.server.BaseHTTPRequestHandler):
    def date_time_string(self, timestamp=None):
        return email.utils.formatdate(time.time() - 3600, usegmt=True)
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b'{"token":"x","expiresAt":"2099-01-01T00:00:00Z","supabaseUrl":"http://127.0.0.1:1"}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write("http://127.0.0.1:%d" % srv.server_address[1])
srv.serve_forever()
EOF
python3 "$T/skewed.py" "$T/skewed.url" &
track_pid $!
wait_for 10 test -s "$T/skewed.url"
python3 - "$CREDS" "$(cat "$T/skewed.url")" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["profiles"]["skew"] = {"relayUrl": sys.argv[2], "runnerId": "r-skew", "bearer": "b", "pairedAt": "2025-01-01T00:00:00Z"}
json.dump(d, open(sys.argv[1], "w"))
EOF
chmod 600 "$CREDS"
# shellcheck disable=SC2086
runner doctor $exec_opt --profile skew >"$T/out" 2>&1
check_eq "an hour of clock skew fails doctor" 1 $?
check_contains "it measures the skew from the Date header" "FAIL clock: 360" "$T/out"
check_contains "it says how to fix the clock" "timedatectl set-ntp true" "$T/out"

# The sleep inhibitor: works with a systemd-inhibit that does, warns when one is asked for and fails.
mkdir -p "$T/inh"
printf '#!/bin/sh\nwhile [ $# -gt 1 ]; do shift; done\nexec "$1"\n' >"$T/inh/systemd-inhibit"
chmod +x "$T/inh/systemd-inhibit"
# shellcheck disable=SC2086
PATH="$T/inh:$PATH" runner doctor $exec_opt --inhibit-sleep on >"$T/out" 2>&1
check_contains "an inhibitor that works" "ok   sleep: inhibitor on (--inhibit-sleep on); systemd-inhibit can hold off sleep here" "$T/out"
printf '#!/bin/sh\necho "Failed to connect to bus: No such file or directory" >&2\nexit 1\n' >"$T/inh/systemd-inhibit"
# shellcheck disable=SC2086
PATH="$T/inh:$PATH" runner doctor $exec_opt --inhibit-sleep on >"$T/out" 2>&1
check_contains "one that fails, when asked for, is a warning" "warn sleep: inhibitor on (--inhibit-sleep on); systemd-inhibit failed (exit 1): Failed to connect to bus" "$T/out"
done_testing
