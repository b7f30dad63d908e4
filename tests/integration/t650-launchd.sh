#!/bin/sh
# The macOS service backend, on Linux: $BUILD/darwin-sim/delego-runner is
# the runner built with the launchd backend (make darwin-sim). service
# install, status, start/stop/restart and uninstall run against a stand-in
# `launchctl` that records its argv, keeps a loaded flag and parses the
# plist as launchd would; then the agent's ProgramArguments (the /bin/sh
# wrapper and the real daemon) run against a real relay, to check what
# launchd's KeepAlive would see: TERM stops for good, HUP reloads, a
# restart request comes back, a revoked credential does not.
. "$(dirname "$0")/lib.sh"

if ! make -s -C "$TOP" BUILD="$BUILD" darwin-sim >"$T/make.log" 2>&1; then
	not_ok "make darwin-sim builds the runner with the launchd backend"
	sed 's/^/    | /' "$T/make.log" | tail -n 20
	done_testing
	exit 1
fi
RUNNER_BIN=$B/darwin-sim/delego-runner

relay_start || exit 1
pair_runner || { not_ok "pairing for the launchd tests"; done_testing; exit 1; }
UID_=$(id -u)
LABEL=app.delego.runner.default
PLIST=$HOME/Library/LaunchAgents/$LABEL.plist
AGENT_LOG=$HOME/Library/Logs/delego-runner/default.log
LOG=$T/launchctl.log

mkdir -p "$T/bin"
cat >"$T/bin/launchctl" <<'EOF'
#!/bin/sh
echo "$*" >>"$LAUNCHCTL_LOG"
case "$1" in
print)
	[ -f "$LAUNCHD_LOADED" ] || { echo "Could not find service \"x\" in domain for user gui: 0" >&2; exit 113; }
	printf '%s = {\n\tstate = running\n\tpid = 4242\n\tlast exit code = (never exited)\n}\n' "$2" ;;
print-disabled)
	printf 'disabled services = {\n}\n' ;;
bootstrap)
	[ ! -f "$LAUNCHD_LOADED" ] || { echo "Bootstrap failed: 5: Input/output error" >&2; exit 5; }
	python3 -c 'import plistlib,sys; p=plistlib.load(open(sys.argv[1],"rb")); assert p["Label"]' "$3" ||
		{ echo "Bootstrap failed: 5: Input/output error" >&2; exit 5; }
	: >"$LAUNCHD_LOADED" ;;
bootout)
	[ -f "$LAUNCHD_LOADED" ] || { echo "Boot-out failed: 3: No such process" >&2; exit 3; }
	rm -f "$LAUNCHD_LOADED" ;;
esac
exit 0
EOF
chmod +x "$T/bin/launchctl"
export PATH="$T/bin:$PATH" LAUNCHCTL_LOG=$LOG LAUNCHD_LOADED=$T/loaded
calls() { paste -sd'|' "$LOG"; : >"$LOG"; }

# --- install ---------------------------------------------------------
: >"$LOG"
runner service install --dry-run >"$T/out" 2>"$T/err"
check_eq "--dry-run succeeds" 0 $?
check_contains "--dry-run prints the plist" "<key>Label</key>" "$T/out"
check_eq "--dry-run runs no launchctl" "" "$(calls)"
check "--dry-run writes no plist" test ! -e "$PLIST"

WORK="$T/my & <work>"
runner service install --heartbeat-interval-ms 1000 --workspace-root "$WORK" >"$T/out" 2>"$T/err"
check_eq "service install succeeds" 0 $?
check "the agent is written under ~/Library/LaunchAgents" test -f "$PLIST"
check_eq "launchctl: enable, then bootstrap into gui/<uid> (RunAtLoad starts it)" \
	"enable gui/$UID_/$LABEL|bootstrap gui/$UID_ $PLIST" "$(grep -v '^print' "$LOG" | paste -sd'|')"
: >"$LOG"
check_contains "install says what it did" "Installed and started the service for profile default" "$T/out"
check_contains "install shows the state launchd reports" "state:   active (running)" "$T/out"
check "the log directory exists before launchd opens the log" test -d "$HOME/Library/Logs/delego-runner"
python3 - "$PLIST" "$RUNNER_BIN" "$WORK" "$XDG_CONFIG_HOME/delego-runner/credentials.json" "$PATH" >"$T/plist.txt" 2>&1 <<'PY'
import plistlib, sys
p = plistlib.load(open(sys.argv[1], "rb"))
a = p["ProgramArguments"]
print("wrapper", a[:2] == ["/bin/sh", "-c"])
print("argv", a[4:7] == [sys.argv[2], "run", "--profile"])
print("workspace", "--workspace-root=" + sys.argv[3] in a)
print("keepalive", p["KeepAlive"])
print("creds", p["EnvironmentVariables"]["DELEGO_CREDENTIALS_PATH"] == sys.argv[4])
print("log", p["StandardErrorPath"].endswith("/Library/Logs/delego-runner/default.log"))
print("path", p["EnvironmentVariables"]["PATH"] == sys.argv[5])
PY
check_contains "ProgramArguments: the wrapper under /bin/sh" "wrapper True" "$T/plist.txt"
check_contains "ProgramArguments: the program by its absolute path" "argv True" "$T/plist.txt"
check_contains "an awkward workspace path round-trips through the plist" "workspace True" "$T/plist.txt"
check_contains "KeepAlive is {SuccessfulExit: false}" "keepalive {'SuccessfulExit': False}" "$T/plist.txt"
check_contains "the credentials path is baked in" "creds True" "$T/plist.txt"
check_contains "logs go to ~/Library/Logs/delego-runner" "log True" "$T/plist.txt"
check_contains "the agent gets the PATH service install ran with" "path True" "$T/plist.txt"

runner service install --heartbeat-interval-ms 1000 --workspace-root "$WORK" >"$T/out" 2>"$T/err"
check_eq "a second install succeeds" 0 $?
check_contains "it says the agent was updated" "Updated and restarted" "$T/out"
check_eq "a loaded agent is booted out and bootstrapped again, so launchd reads the new plist" \
	"enable gui/$UID_/$LABEL|bootout gui/$UID_/$LABEL|bootstrap gui/$UID_ $PLIST" \
	"$(grep -v '^print' "$LOG" | paste -sd'|')"
: >"$LOG"

cp "$PLIST" "$T/ours.plist"
printf '<?xml version="1.0"?>\n<plist version="1.0"><dict/></plist>\n' >"$PLIST"
runner service install >"$T/out" 2>"$T/err"
check_eq "a plist not written by us is not replaced (73)" 73 $?
cp "$T/ours.plist" "$PLIST"
: >"$LOG"

# --- status, stop, start, restart --------------------------------------
runner status >"$T/out" 2>"$T/err"
check_eq "status succeeds" 0 $?
check_contains "status shows the launchd agent" "service:    $LABEL active (running), enabled" "$T/out"
runner status --json >"$T/status.json"
check_eq "status --json: the plist path" "$PLIST" "$(json "$T/status.json" "d['profiles'][0]['service']['path']")"

runner stop >"$T/out" 2>"$T/err"
check_eq "stop succeeds" 0 $?
check_eq "stop boots the agent out (it waits for the drain)" "bootout gui/$UID_/$LABEL" "$(grep -v '^print' "$LOG" | paste -sd'|')"
: >"$LOG"
runner status >"$T/out" 2>"$T/err"
check_contains "a stopped agent shows as not loaded" "$LABEL inactive (not-loaded)" "$T/out"
runner start >"$T/out" 2>"$T/err"
check_eq "start succeeds" 0 $?
check_eq "start bootstraps a stopped agent" "bootstrap gui/$UID_ $PLIST" "$(grep -v '^print' "$LOG" | paste -sd'|')"
: >"$LOG"
runner start >/dev/null 2>&1
check_eq "start on a loaded agent kickstarts it (no-op when running)" "kickstart gui/$UID_/$LABEL" \
	"$(grep -v '^print' "$LOG" | paste -sd'|')"
: >"$LOG"
runner restart >"$T/out" 2>"$T/err"
check_eq "restart succeeds" 0 $?
check_eq "restart is kickstart -k" "kickstart -k gui/$UID_/$LABEL" "$(grep -v '^print' "$LOG" | paste -sd'|')"
: >"$LOG"

# --- the agent itself: what launchd's KeepAlive would see ------------------
agent_start() { launchd_agent_start "$PLIST"; }
beats() { cat "$T/requests.jsonl" 2>/dev/null | grep -c '"/api/runner/heartbeat"'; }
beats_past() { test "$(beats)" -gt "$1"; }
agent_rc() { cat "$T/agent.rc" 2>/dev/null; }

b0=$(beats)
agent_start
check "the agent starts and heartbeats" wait_for 15 beats_past "$b0"
n=$(grep -c 'configuration reloaded' "$AGENT_LOG")
kill -HUP "$AGENT_PID"
reloaded() { test "$(grep -c 'configuration reloaded' "$AGENT_LOG")" -gt "$n"; }
check "HUP to the agent reaches the daemon (it reloads)" wait_for 10 reloaded
check "the agent is still running after HUP" test ! -e "$T/agent.rc"
kill -TERM "$AGENT_PID"
check "TERM to the agent: the daemon drains and the agent exits" wait_for 30 test -s "$T/agent.rc"
check_eq "after a stop the agent exits 0: KeepAlive does not restart it" 0 "$(agent_rc)"

b0=$(beats)
agent_start
check "the agent heartbeats again" wait_for 15 beats_past "$b0"
relay restart "$RUNNER_ID" >/dev/null 2>&1
check "a restart request ends the daemon" wait_for 30 test -s "$T/agent.rc"
check_eq "after a restart request the agent exits 1: KeepAlive starts it again" 1 "$(agent_rc)"
check_contains "the log says launchd starts it again" "launchd starts it again" "$AGENT_LOG"

b0=$(beats)
agent_start
check "the agent heartbeats once more" wait_for 15 beats_past "$b0"
relay rotate "$RUNNER_ID" >/dev/null 2>&1
check "a rotated credential ends the daemon" wait_for 30 test -s "$T/agent.rc"
check_eq "after exit 2 the agent exits 0: KeepAlive does not restart it" 0 "$(agent_rc)"
check_contains "the log says why and what to do" "exited with status 2 (2: pair again" "$AGENT_LOG"

# --- uninstall -------------------------------------------------------
: >"$LOG"
runner uninstall --yes >"$T/out" 2>"$T/err"
check_eq "uninstall --yes succeeds" 0 $?
check_eq "uninstall boots the agent out and disables it" "bootout gui/$UID_/$LABEL|disable gui/$UID_/$LABEL" \
	"$(grep -v '^print' "$LOG" | paste -sd'|')"
check "the plist is deleted" test ! -e "$PLIST"
check_contains "the profile is removed" "removed profile default" "$T/out"

cleanup
done_testing
