#!/bin/sh
# The Homebrew formula's post_install, without brew: its commands are taken
# from packaging/homebrew/delego-runner.rb (ruby -c first, where there is
# ruby) and run as `brew upgrade` would, against a daemon the launchd agent
# of `delego-runner service install` started, in Homebrew's layout
# (PREFIX/Cellar/delego-runner/VERSION, PREFIX/opt/delego-runner -> the
# installed one). As the .deb postinst does with systemd, the upgrade
# reaches the daemon as SIGUSR2: it re-execs the new keg's program in
# place (same pid, the agent's /bin/sh wrapper still there) and its running
# job completes once, with seq going on without gap. Uses the runner built
# with the launchd backend ($BUILD/darwin-sim, make darwin-sim) and a
# stand-in launchctl, as t650 does.
. "$(dirname "$0")/lib.sh"
FORMULA=$TOP/packaging/homebrew/delego-runner.rb

if command -v ruby >/dev/null 2>&1; then
	check "the formula is valid Ruby (ruby -c)" ruby -c "$FORMULA"
else
	ok "# SKIP ruby -c: no ruby here"
fi
# post_install as shell: each `system`/`quiet_system` of bin/"x" or opt_bin/"x" with string arguments.
python3 - "$FORMULA" >"$T/post_install.sh" 2>"$T/extract.err" <<'PY'
import re, shlex, sys
src = open(sys.argv[1]).read()
m = re.search(r'^  def post_install\n(.*?)^  end\n', src, re.M | re.S)
if not m:
    sys.exit("the formula has no post_install")
for line in m.group(1).splitlines():
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    c = re.fullmatch(r'(quiet_)?system ((?:opt_)?bin)/"([^"\\]+)"((?:, "[^"\\]*")*)', line)
    if not c:
        sys.exit("post_install has a line this test cannot run: " + line)
    prog = ('"$OPT_BIN"/' if c.group(2) == "opt_bin" else '"$KEG_BIN"/') + shlex.quote(c.group(3))
    args = " ".join(shlex.quote(a) for a in re.findall(r'"([^"\\]*)"', c.group(4)))
    # quiet_system: Homebrew ignores the status (and hides the output, kept here to be checked).
    print(prog + " " + args + (" || true" if c.group(1) else " || exit $?"))
PY
check "post_install is commands this test can run ($(cat "$T/extract.err"))" test -s "$T/post_install.sh"
check_contains "post_install runs the keg's delego-runner upgrade" '"$KEG_BIN"/delego-runner upgrade' "$T/post_install.sh"

if ! make -s -C "$TOP" BUILD="$BUILD" darwin-sim >"$T/make.log" 2>&1; then
	not_ok "make darwin-sim builds the runner with the launchd backend"
	tail -n 20 "$T/make.log"
	done_testing
	exit 1
fi
SIM=$B/darwin-sim/delego-runner

job_world
# Homebrew's layout: the old version installed, opt pointing at it.
PREFIX=$(mkdir -p "$T/brew" && cd "$T/brew" && pwd -P)
old=$("$SIM" version | awk '{print $2}')
new=$(printf '%s' "$old" | python3 -c 'import sys; v = sys.stdin.read(); print(v[:-1] + ("8" if v[-1] == "9" else "9"))')
keg() { mkdir -p "$PREFIX/Cellar/delego-runner/$1/bin" && cp "$B/delego-runner-exec" "$PREFIX/Cellar/delego-runner/$1/bin/"; }
keg "$old"
cp "$SIM" "$PREFIX/Cellar/delego-runner/$old/bin/delego-runner"
keg "$new"
python3 - "$SIM" "$PREFIX/Cellar/delego-runner/$new/bin/delego-runner" "$old" "$new" <<'PY'
import os, sys
data = open(sys.argv[1], "rb").read()
open(sys.argv[2], "wb").write(data.replace(sys.argv[3].encode() + b"\0", sys.argv[4].encode() + b"\0"))
os.chmod(sys.argv[2], 0o755)
PY
mkdir -p "$PREFIX/opt"
ln -s "../Cellar/delego-runner/$old" "$PREFIX/opt/delego-runner"
OPT_BIN=$PREFIX/opt/delego-runner/bin
check_eq "the new keg reports $new" "delego-runner $new" "$("$PREFIX/Cellar/delego-runner/$new/bin/delego-runner" version)"

# A stand-in launchctl: the agent is loaded once bootstrapped, its pid is the one we started.
UID_=$(id -u)
LABEL=app.delego.runner.default
PLIST=$HOME/Library/LaunchAgents/$LABEL.plist
AGENT_LOG=$HOME/Library/Logs/delego-runner/default.log
mkdir -p "$T/bin"
cat >"$T/bin/launchctl" <<'EOF'
#!/bin/sh
echo "$*" >>"$LAUNCHCTL_LOG"
case "$1" in
print)
	[ -f "$LAUNCHD_LOADED" ] || { echo "Could not find service \"x\" in domain for user gui: 0" >&2; exit 113; }
	printf '%s = {\n\tstate = running\n\tpid = %s\n\tlast exit code = (never exited)\n}\n' "$2" "$(cat "$AGENT_PID_FILE" 2>/dev/null || echo 0)" ;;
print-disabled)
	printf 'disabled services = {\n}\n' ;;
bootstrap)
	: >"$LAUNCHD_LOADED" ;;
bootout)
	rm -f "$LAUNCHD_LOADED" ;;
esac
exit 0
EOF
chmod +x "$T/bin/launchctl"
export PATH="$T/bin:$PATH" LAUNCHCTL_LOG=$T/launchctl.log LAUNCHD_LOADED=$T/loaded AGENT_PID_FILE=$T/agent.pid

"$OPT_BIN/delego-runner" service install --workspace-root "$WS" --git-clone-base-url "$T/remotes" \
	--inhibit-sleep off --log-level debug >"$T/install.out" 2>&1
check_eq "service install (from opt/) succeeds" 0 $?
check_eq "the agent runs opt/'s program, which follows upgrades, not the keg's" "$OPT_BIN/delego-runner" \
	"$(python3 -c 'import plistlib, sys; print(plistlib.load(open(sys.argv[1], "rb"))["ProgramArguments"][4])' "$PLIST")"

# As launchd does: ProgramArguments with the plist's environment and log.
launchd_agent_start "$PLIST"
STATUS=$XDG_STATE_HOME/delego-runner/default/status.json
check "the daemon starts under the agent's wrapper" wait_for 15 test -s "$STATUS"
DAEMON=$(json "$STATUS" "d['pid']")
track_pid "$DAEMON"

status_of() { relay job show "$1" --json | jsonq "d['status']"; }
is_done() { case "$(status_of "$1")" in completed|failed|cancelled) return 0 ;; esac; return 1; }
progressed() { relay job show "$1" --json | python3 -c 'import json, re, sys
d = json.load(sys.stdin)
sys.exit(0 if any(int(m) >= int(sys.argv[1]) for e in d["events"] for m in re.findall(r"still working \((\d+)/", e["summary"] or "")) else 1)' "$2"; }
id=$(relay job add --repo acme/app --executor codex --identifier H-1 --prompt "scenario=slow sleep=15")
check "the agent runs" wait_for 30 progressed "$id" 3

# brew upgrade: the new keg is linked, then its post_install runs.
ln -sfn "../Cellar/delego-runner/$new" "$PREFIX/opt/delego-runner"
KEG_BIN=$PREFIX/Cellar/delego-runner/$new/bin OPT_BIN=$OPT_BIN sh "$T/post_install.sh" >"$T/post.out" 2>&1
check_eq "post_install succeeds" 0 $?
check_contains "it upgrades the running agent in place" "upgrading default in place (pid $AGENT_PID)" "$T/post.out"
check "the daemon gets SIGUSR2 through the wrapper" wait_for 10 grep -q "received SIGUSR2" "$AGENT_LOG"
check "and execs opt/'s program, now the new keg's" wait_for 15 grep -q "upgrading in place: running $OPT_BIN/delego-runner" "$AGENT_LOG"
check "same pid, now the new keg's program" wait_for 10 sh -c "readlink /proc/$DAEMON/exe | grep -q 'Cellar/delego-runner/$new/'"
check "the agent's wrapper is still there" test ! -e "$T/agent.rc"
check "the job completes" wait_for 40 is_done "$id"
relay job show "$id" --json >"$T/job.json"
check_eq "completed, with the agent's whole reply" "completed Done after 15 seconds." \
	"$(json "$T/job.json" "d['status'] + ' ' + d['metadata']['assistantResponse']")"
check_eq "one agent was ever started" 1 "$(grep -c 'agent .* started, pid' "$AGENT_LOG")"
check "the heartbeat shows the new version" wait_for 10 sh -c "grep '/api/runner/heartbeat' '$T/requests.jsonl' | tail -n 1 | grep -q '\"$new\"'"
job_seqs "$id" >"$T/seq.out"
check_eq "seq 1, 2, 3, ...: no gap, no repeat ($(head -n 1 "$T/seq.out"))" ok "$(tail -n 1 "$T/seq.out")"
# brew cleanup: the old keg goes; the daemon does not need it.
rm -rf "${PREFIX:?}/Cellar/delego-runner/$old"
check "the daemon goes on without the old keg" kill -0 "$DAEMON"
kill -TERM "$AGENT_PID"
check "TERM to the agent: the daemon drains and the agent exits 0" wait_for 30 test -s "$T/agent.rc"
check_eq "exit 0" 0 "$(cat "$T/agent.rc" 2>/dev/null)"
done_testing
