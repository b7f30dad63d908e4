#!/bin/sh
# Stream throughput: one job whose agent writes BENCH_MB (200) MB of Claude
# stream-json as fast as it can (the `huge` scenario: a 1.5 MiB line over
# the runner's 1 MiB cap, then 64 KiB text events, then "Huge output
# done." and a result). Run twice, each on a fresh runner (--max-jobs 1):
#   - c:      tests/helpers/stream_agent, a C writer, so that the runner
#             and not the writer is the bottleneck;
#   - python: the Python stand-in (tests/fixtures/bin/claude).
# For each: the writer's own time into `cat >/dev/null`; the agent's wall
# time under the runner (log: "agent ... started" to "running agent ->
# collecting changes"); the runner's CPU over that span (utime+stime of
# the runner process only, /proc/PID/stat, sampled every 10 ms), its minor
# page faults and run-queue wait (/proc/PID/schedstat) over that span, its
# peak memory (VmHWM at the end, VmRSS sampled); the job completed with
# the final reply and the session id.
# BENCH_PERF=1 adds a perf profile of the runner; BENCH_WRITERS="c" or
# "python" runs one writer only; BENCH_MB sets the volume; BENCH_RATE
# (MiB/s, default 100) paces the C writer (0: as fast as it can), so that
# the share of the agent's wall time the runner spends is the share it
# would take of an agent that writes that fast.
# Targets: runner VmHWM <= 32 MiB, runner CPU <= 10% of the agent's wall time.
set -u
case $0 in /*) ;; *) exec sh "$(cd "$(dirname "$0")" && pwd)/$(basename "$0")" "$@" ;; esac
. "$(dirname "$0")/../integration/lib.sh"
export PATH="$FIXTURES/bin:$PATH"
mb=${BENCH_MB:-200}
rate=${BENCH_RATE:-100}
writers=${BENCH_WRITERS:-c python}
UP=$T/remotes/acme/app.git
HELPER=$B/tests/helpers/stream_agent
if [ ! -x "$HELPER" ] || [ "$TOP/tests/helpers/stream_agent.c" -nt "$HELPER" ]; then
	make -s -C "$TOP" BUILD="$B" "$HELPER" >"$T/make.log" 2>&1 || { echo "cannot build $HELPER:"; cat "$T/make.log"; exit 1; }
fi

relay_start || exit 1
pair_runner || { echo "pairing failed"; exit 1; }
git init -q --bare -b main "$UP"
git init -q -b main "$T/seed"
(cd "$T/seed" && echo hello >README.md && git add . && git commit -q -m initial && git push -q "$UP" main)

# sample PID LOG JOBID OUT: follows the runner until "job JOBID finished";
# writes one JSON object with the runner's CPU ticks at the agent's start
# and end, its VmHWM / peak VmRSS, and the agent's own CPU ticks.
sample() {
	python3 - "$@" <<'PY'
import json, os, re, sys, time
pid, log, job, out = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
hz = os.sysconf("SC_CLK_TCK")

def ticks(p):
    try:
        f = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])  # utime + stime: fields 14 and 15
    except (OSError, IndexError):
        return None

def minflt(p):
    try:
        return int(open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()[7])  # field 10
    except (OSError, IndexError, ValueError):
        return None

def sched(p):
    # /proc/PID/schedstat: ns on a CPU, ns runnable but waiting for one, slices
    try:
        return [int(x) for x in open("/proc/%s/schedstat" % p).read().split()[:2]]
    except (OSError, ValueError):
        return None

def status(p, key):
    try:
        for line in open("/proc/%s/status" % p):
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None

r = {"hz": hz, "peak_rss_kb": 0}
agent = None
pos, buf = 0, ""
deadline = time.time() + 300
while time.time() < deadline:
    t = ticks(pid)
    rss = status(pid, "VmRSS") or 0
    r["peak_rss_kb"] = max(r["peak_rss_kb"], rss)
    if agent:
        a = ticks(agent)
        if a is not None:
            r["agent_ticks"] = a
    with open(log) as f:
        f.seek(pos)
        chunk = f.read()
        pos = f.tell()
    buf += chunk
    lines = buf.split("\n")
    buf = lines.pop()
    for line in lines:
        if job not in line:
            continue
        m = re.search(r"agent \S+ started, pid (\d+)", line)
        if m:
            agent = m.group(1)
            r["ticks_agent_start"] = t
            r["sched_agent_start"] = sched(pid)
            r["minflt_agent_start"] = minflt(pid)
        elif "running agent -> " in line:
            r["ticks_agent_end"] = ticks(pid)
            r["sched_agent_end"] = sched(pid)
            r["minflt_agent_end"] = minflt(pid)
        elif line.endswith("job %s finished" % job):
            r["ticks_done"] = ticks(pid)
            r["vmhwm_kb"] = status(pid, "VmHWM")
            r["rss_anon_kb"] = status(pid, "RssAnon")
            json.dump(r, open(out, "w"))
            sys.exit(0)
    time.sleep(0.01)
json.dump(r, open(out, "w"))
sys.exit(1)
PY
}

# writer_alone CMD: seconds the writer needs on its own, into a pipe.
writer_alone() {
	python3 - "$@" "scenario=huge mb=$mb" <<'PY'
import os, subprocess, sys, time
t = time.time()
w = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
fd, n = w.stdout.fileno(), 0
while True:
    b = os.read(fd, 65536)  # (BufferedReader.read1 is slow here: 8 s for 200 MB)
    if not b:
        break
    n += len(b)
w.wait()
print("%.3f %d" % (time.time() - t, n))
PY
}

rc=0
for w in $writers; do
	case $w in
	c) cmd=$HELPER pace=" rate=$rate" ;;
	python) cmd=$FIXTURES/bin/claude pace="" ;;
	*) echo "unknown writer $w"; exit 64 ;;
	esac
	set -- $(writer_alone "$cmd" "$pace")
	alone_s=$1 bytes=$2
	log=$T/run-$w.log
	runner_bg "$log" run --max-jobs 1 --log-level debug --workspace-root "$T/ws" --git-clone-base-url "$T/remotes" \
		--supported-executors claude --claude-command "$cmd"
	wait_for 10 grep -q "connected to relay" "$log" || { echo "runner did not start"; cat "$log"; exit 1; }
	id=$(relay job add --repo acme/app --executor claude --identifier "HUGE-$w" --prompt "scenario=huge mb=$mb$pace")
	# The sampler looks for lines of this job only: start it before the claim.
	sample "$RUNNER_PID" "$log" "$id" "$T/sample-$w.json" &
	spid=$!
	track_pid $spid
	if [ "${BENCH_PERF:-0}" = 1 ]; then
		perf record -q -F 499 -g -p "$RUNNER_PID" -o "$T/perf-$w.data" >/dev/null 2>&1 &
		ppid_=$!
	fi
	wait "$spid" || { echo "job $id did not finish in time"; tail -n 20 "$log"; rc=1; }
	relay job show "$id" --json >"$T/job-$w.json"
	if [ "${BENCH_PERF:-0}" = 1 ]; then
		kill -INT "$ppid_"; wait "$ppid_"
		perf report -i "$T/perf-$w.data" --no-children --stdio --percent-limit 1.5 -g none 2>/dev/null |
			grep -v '^#' | grep -v '^$' | head -n 30 >"$T/perf-$w.txt"
	fi
	kill -TERM "$RUNNER_PID"
	wait_exit "$RUNNER_PID" 20
	python3 - "$w" "$T/sample-$w.json" "$T/job-$w.json" "$log" "$alone_s" "$bytes" <<'PY' || rc=1
import json, re, sys
from datetime import datetime, timezone
w, sample, job, log, alone_s, nbytes = sys.argv[1:7]
s, j = json.load(open(sample)), json.load(open(job))

def ms(iso):
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp() * 1000

start = end = None
for line in open(log):
    if j["id"] not in line:
        continue
    if re.search(r"agent \S+ started, pid", line):
        start = ms(line.split()[0])
    elif "running agent -> " in line and end is None:
        end = ms(line.split()[0])
md = j.get("metadata") or {}
wall = (end - start) / 1000
cpu = (s["ticks_agent_end"] - s["ticks_agent_start"]) / s["hz"]
whole = (s["ticks_done"] - s["ticks_agent_start"]) / s["hz"]
agent_cpu = s.get("agent_ticks", 0) / s["hz"]
wait = None
if s.get("sched_agent_start") and s.get("sched_agent_end"):
    wait = (s["sched_agent_end"][1] - s["sched_agent_start"][1]) / 1e9
mib = int(nbytes) / 1048576
ok_reply = md.get("assistantResponse") == "Huge output done."
sid = md.get("sessionId") or ""
ok_sid = len(sid) == 36 and (w != "c" or ("session " + sid) in (md.get("stderrTail") or ""))
print("%s writer: %.0f MiB of stream-json; alone into a pipe %.2f s (%.0f MiB/s)" % (w, mib, float(alone_s), mib / float(alone_s)))
print("  agent wall under the runner %.2f s (%.0f MiB/s); agent CPU %.2f s" % (wall, mib / wall, agent_cpu))
print("  runner CPU while the agent ran %.2f s = %.0f%% of the agent's wall time (target <= 10%%); %.0f ms per 100 MiB" % (
    cpu, 100 * cpu / wall, 1000 * cpu / mib * 100))
if s.get("minflt_agent_start") is not None and s.get("minflt_agent_end") is not None:
    print("  runner minor page faults while the agent ran: %d (tens of thousands: glibc trims and regrows the heap "
          "for every event)" % (s["minflt_agent_end"] - s["minflt_agent_start"]))
if wait is not None:
    print("  runner runnable but waiting for a CPU (schedstat) %.2f s of that wall time: the machine's other load" % wait)
print("  runner CPU from agent start to job done (collect, report) %.2f s" % whole)
print("  runner VmHWM %d KiB (%.1f MiB, target <= 32 MiB), peak VmRSS sampled %d KiB, RssAnon at the end %d KiB" % (
    s["vmhwm_kb"], s["vmhwm_kb"] / 1024, s["peak_rss_kb"], s["rss_anon_kb"]))
print("  job %s, reply %r, sessionId %s" % (j["status"], md.get("assistantResponse"), sid or None))
print("RESULT %s: cpu %.0f%% of wall (%.2f s / %.2f s), VmHWM %.1f MiB, completed %s, reply %s, session %s" % (
    w, 100 * cpu / wall, cpu, wall, s["vmhwm_kb"] / 1024, j["status"] == "completed", ok_reply, ok_sid))
sys.exit(0 if j["status"] == "completed" and ok_reply and ok_sid else 1)
PY
	[ -s "$T/perf-$w.txt" ] && { echo "  perf, runner's hottest symbols:"; sed 's/^/    /' "$T/perf-$w.txt"; }
done
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
exit $rc
