#!/bin/sh
# Upgrade in place: SIGUSR2 with a new program on disk (a copy reporting
# another version) re-execs it in the same process, which takes the
# running job over: the job completes once with the agent's whole reply,
# one agent was ever started, seq goes on without gap or repeat, and the
# heartbeat shows the new version. The sleep inhibitor (a stand-in
# systemd-inhibit) is taken over, held throughout, released and reaped by
# the new image: no zombie is left. A broken new program changes nothing.
. "$(dirname "$0")/lib.sh"
job_world
export PATH="$FIXTURES/inhibit:$PATH"
ILOG=$HOME/inhibit.log
mkdir -p "$T/rb"
BIN=$T/rb/delego-runner
cp "$RUNNER_BIN" "$BIN"
old=$("$RUNNER_BIN" version | awk '{print $2}')
new=$(printf '%s' "$old" | python3 -c 'import sys; v = sys.stdin.read(); print(v[:-1] + ("8" if v[-1] == "9" else "9"))')
# A copy of the program that reports another version of the same length.
python3 - "$RUNNER_BIN" "$T/new-runner" "$old" "$new" <<'PY'
import os, sys
data = open(sys.argv[1], "rb").read()
old, new = sys.argv[3].encode() + b"\0", sys.argv[4].encode() + b"\0"
open(sys.argv[2], "wb").write(data.replace(old, new))
os.chmod(sys.argv[2], 0o755)
PY
check_eq "the new copy reports $new" "delego-runner $new" "$("$T/new-runner" version)"
status_of() { relay job show "$1" --json | jsonq "d['status']"; }
is_done() { case "$(status_of "$1")" in completed|failed|cancelled) return 0 ;; esac; return 1; }
# progressed ID N: a progress report "still working (k/...)" with k >= N arrived (they are rate-limited).
progressed() { relay job show "$1" --json | python3 -c 'import json, re, sys
d = json.load(sys.stdin)
n = int(sys.argv[1])
sys.exit(0 if any(int(m) >= n for e in d["events"] for m in re.findall(r"still working \((\d+)/", e["summary"] or "")) else 1)' "$2"; }
agents() { grep -c 'scenario=slow' "$HOME/fake-agent-calls.jsonl"; }

$DR_VG "$BIN" run --workspace-root "$WS" --git-clone-base-url "$T/remotes" --inhibit-sleep on --log-level debug \
	>"$T/run.log" 2>&1 &
PID=$!
track_pid $PID
id=$(relay job add --repo acme/app --executor codex --identifier U-1 --prompt "scenario=slow sleep=20")
check "the agent runs" wait_for 30 progressed "$id" 5
check "the sleep inhibitor is held" grep -q '^take' "$ILOG"
mv "$T/new-runner" "$BIN"
kill -USR2 $PID
check "the daemon execs the new program" wait_for 10 grep -q "upgrading in place: running" "$T/run.log"
check "it takes the job over" wait_for 10 grep -q "taking over the agent" "$T/run.log"
# The daemon is not dumpable (its memory holds the bearer): only root may read its /proc/PID/exe.
if readlink /proc/$PID/exe >/dev/null 2>&1; then
	check "same pid, now the new program" wait_for 5 sh -c "readlink /proc/$PID/exe | grep -q '$BIN'"
else
	ok "# SKIP same pid, now the new program: /proc/$PID/exe is root's to read (the daemon is not dumpable); the heartbeat's version below says it"
fi
# zombies PID: the daemon's children that have exited and were not reaped.
zombies() { for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
	awk -v c="$c" '$1 == "State:" && $2 == "Z" {print c}' "/proc/$c/status" 2>/dev/null; done; }
no_zombie() { [ -z "$(zombies "$PID")" ]; }
check_contains "the new image took the inhibitor over" "taken over from the previous image" "$T/run.log"
check "no zombie child of the daemon after the upgrade" wait_for 5 no_zombie
check "the job completes" wait_for 40 is_done "$id"
relay job show "$id" --json >"$T/job.json"
check_eq "completed" completed "$(json "$T/job.json" "d['status']")"
check_eq "with the agent's whole reply" "Done after 20 seconds." "$(json "$T/job.json" "d['metadata']['assistantResponse']")"
check_eq "one terminal report" 1 "$(json "$T/job.json" "len([e for e in d['events'] if e['kind'] in ('complete', 'fail')])")"
check_eq "one agent was ever started" 1 "$(agents)"
check "the same process throughout" kill -0 $PID
check "the inhibitor is released once the job is done (its report in: at most a minute later)" wait_for 65 grep -q '^release' "$ILOG"
check_eq "one inhibitor, held across the upgrade" 1 "$(grep -c '^take' "$ILOG")"
check "and reaped: no zombie child of the daemon ($(zombies "$PID" | tr '\n' ' '))" wait_for 5 no_zombie
check "the heartbeat shows the new version" python3 -c 'import json,sys
v = [json.loads(l)["body"].get("version") for l in open(sys.argv[1]) if json.loads(l)["path"] == "/api/runner/heartbeat"]
sys.exit(0 if sys.argv[2] in v and v[-1] == sys.argv[2] and v[0] == sys.argv[3] else 1)' "$T/requests.jsonl" "$new" "$old"
# The job's reports as the relay got them, each eventId once: seq 1, 2, 3, ...
job_seqs "$id" >"$T/seq.out"
check_eq "seq strictly increasing, no gap, no repeat ($(head -n 1 "$T/seq.out"))" ok "$(tail -n 1 "$T/seq.out")"
# Handover: the new image's first request (its first heartbeat) minus the last one before it.
python3 - "$T/requests.jsonl" "$new" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for i, d in enumerate(rows):
    if d["path"] == "/api/runner/heartbeat" and d["body"].get("version") == sys.argv[2]:
        print("# handover: %d ms between the last request before the new image and its first" % (d["t"] - rows[i - 1]["t"]))
        break
PY

# A broken new program: the daemon goes on, the job completes.
id=$(relay job add --repo acme/app --executor codex --identifier U-2 --prompt "scenario=slow sleep=6")
check "the second agent runs" wait_for 30 progressed "$id" 2
printf '#!/bin/sh\nexit 1\n' >"$T/broken" && chmod +x "$T/broken" && mv "$T/broken" "$BIN"
kill -USR2 $PID
check "the upgrade is refused" wait_for 10 grep -q "upgrade aborted: $BIN does not start" "$T/run.log"
check "the job still completes" wait_for 30 is_done "$id"
check_eq "completed" completed "$(status_of "$id")"
check "the same daemon goes on" kill -0 $PID
kill -TERM $PID
wait_exit $PID 30
check_eq "and exits 0 on SIGTERM" 0 "$EXIT"
done_testing
