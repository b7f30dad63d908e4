#!/bin/sh
# Concurrency: BENCH_JOBS (16) jobs at once on one runner (--max-jobs 16,
# --heartbeat-interval-ms 1000), each a stand-in Claude `slow sleep=5`
# (one event a second for 5 s), all on one repository (one fetch at a time
# per repository; BENCH_REPOS=16 spreads them over 16). After the runner has been idle for 3 s, the jobs are
# enqueued as fast as `relay job add` goes.
# Reports: all completed; the batch's wall time (first createdAt to last
# finishedAt at the relay); per-job claim, git and agent times; and the
# gaps between the runner's timer heartbeats (the relay's --request-log,
# lib.sh's $T/requests.jsonl, beats with deliverRestart true; the beats
# sent on each claim and finish have it false) while the jobs run, max and
# median: a loop that never blocks keeps them at 1000 ms. With perf, the
# loop's longest busy stretches (epoll_wait return to the next call on the
# main thread, from syscall tracepoints), and, from the scheduler's
# switches (perf -a), how much of each stretch the main thread spent off
# the CPU asleep (a blocking call: an fsync, a vfork waiting for its
# exec) and how much waiting for a CPU (preempted: a busy machine, not
# the loop's doing). Also the runner's CPU time over the batch and its VmHWM.
# Git: a stand-in `git` first on the runner's PATH logs each command's
# start and end (ns) to $T/git.log and runs the real one; the report gives
# the most git processes running at once during the batch, and how many
# ran in all (BENCH_GIT_LOG=0 leaves git alone).
# Target: every job completes; max heartbeat gap close to 1000 ms; more
# than one git process at once; batch at most 8 s with 5 s agents.
set -u
case $0 in /*) ;; *) exec sh "$(cd "$(dirname "$0")" && pwd)/$(basename "$0")" "$@" ;; esac
. "$(dirname "$0")/../integration/lib.sh"
export PATH="$FIXTURES/bin:$PATH"
n=${BENCH_JOBS:-16}
secs=${BENCH_SLEEP:-5}
nrepos=${BENCH_REPOS:-1}
repo() { if [ "$nrepos" -eq 1 ]; then echo acme/app; else echo "acme/app$(( ($1 - 1) % nrepos + 1 ))"; fi; }

relay_start || exit 1
pair_runner || { echo "pairing failed"; exit 1; }
git init -q -b main "$T/seed"
(cd "$T/seed" && echo hello >README.md && git add . && git commit -q -m initial)
r=1
while [ $r -le "$nrepos" ]; do
	git clone -q --bare "$T/seed" "$T/remotes/$(repo $r).git" || exit 1
	r=$((r + 1))
done

: >"$T/git.log"
keep_path=$PATH
if [ "${BENCH_GIT_LOG:-1}" = 1 ]; then
	mkdir -p "$T/gitwrap"
	# the date calls cost a few ms per command, the same for every run
	{
		echo '#!/bin/sh'
		echo "echo \"start \$(date +%s%N) \$\$ \$1 \$2 \$3 \$4\" >>'$T/git.log'"
		echo "'$(command -v git)' \"\$@\""
		echo 'rc=$?'
		echo "echo \"end \$(date +%s%N) \$\$\" >>'$T/git.log'"
		echo 'exit $rc'
	} >"$T/gitwrap/git"
	chmod +x "$T/gitwrap/git"
	PATH="$T/gitwrap:$PATH"
fi
runner_bg "$T/run.log" run --max-jobs "$n" --heartbeat-interval-ms 1000 --log-level debug --workspace-root "$T/ws" \
	--git-clone-base-url "$T/remotes" --supported-executors claude
PATH=$keep_path
wait_for 10 grep -q "connected to relay" "$T/run.log" || { echo "runner did not start"; cat "$T/run.log"; exit 1; }
# Warm-up jobs clone the source caches, so that the batch fetches only.
: >"$T/warm"
r=1
while [ $r -le "$nrepos" ]; do
	relay job add --repo "$(repo $r)" --executor claude --identifier "WARM-$r" --prompt "scenario=success" >>"$T/warm"
	r=$((r + 1))
done
warm_done() {
	for id in $(cat "$T/warm"); do grep -q "job $id finished" "$T/run.log" || return 1; done
}
wait_for 120 warm_done || { echo "warm-up jobs did not finish"; exit 1; }
sleep 3

ticks() { awk '{print $14 + $15}' /proc/$RUNNER_PID/stat; }
t0=$(ticks)
# The loop's busy stretches: from each epoll_wait return to the next call.
if perf record -q -e syscalls:sys_enter_epoll_wait -e syscalls:sys_exit_epoll_wait -o "$T/probe.data" true >/dev/null 2>&1; then
	perf record -q -e syscalls:sys_enter_epoll_wait -e syscalls:sys_exit_epoll_wait -p "$RUNNER_PID" \
		-o "$T/loop.data" >/dev/null 2>&1 &
	perf_pid=$!
	perf record -q -a -e sched:sched_switch -o "$T/sched.data" >/dev/null 2>&1 &
	sched_pid=$!
	sleep 0.5
fi
: >"$T/ids"
i=1
while [ $i -le "$n" ]; do
	relay job add --repo "$(repo $i)" --executor claude --identifier "CONC-$i" --prompt "scenario=slow sleep=$secs" >>"$T/ids" || exit 1
	i=$((i + 1))
done
all_done() {
	for id in $(cat "$T/ids"); do grep -q "job $id finished" "$T/run.log" || return 1; done
}
wait_for 180 all_done || echo "not every job finished within 180 s"
t1=$(ticks)
hwm=$(awk '/^VmHWM/ {print $2}' /proc/$RUNNER_PID/status)
if [ -n "${perf_pid:-}" ]; then
	kill -INT "$perf_pid" "$sched_pid"; wait "$perf_pid" "$sched_pid"
	perf script -i "$T/loop.data" -F tid,time,event 2>/dev/null >"$T/loop.txt"
	perf script -i "$T/sched.data" -F time,trace 2>/dev/null | grep -E "prev_pid=$RUNNER_PID |next_pid=$RUNNER_PID " >"$T/sched.txt"
fi
sleep 2 # two more beats after the batch
for id in $(cat "$T/ids"); do relay job show "$id" --json >"$T/job-$id.json"; done
kill -TERM "$RUNNER_PID"
wait_exit "$RUNNER_PID" 10

python3 - "$T" "$(( (t1 - t0) * 1000 / $(getconf CLK_TCK) ))" "$hwm" "$secs" "$nrepos" "$RUNNER_PID" <<'PY'
import json, re, statistics, sys
from datetime import datetime, timezone
tdir, cpu_ms, hwm, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
nrepos = int(sys.argv[5])
runner_pid = int(sys.argv[6])

def ms(iso):
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp() * 1000

ids = open(tdir + "/ids").read().split()
jobs = [json.load(open("%s/job-%s.json" % (tdir, i))) for i in ids]
ev = {}
for line in open(tdir + "/run.log"):
    m = re.match(r"^(\S+Z) delego-runner \w+: job (\S+): (.*)$", line.rstrip("\n"))
    if not m:
        continue
    t, jid, msg = ms(m.group(1)), m.group(2), m.group(3)
    e = ev.setdefault(jid, {})
    if (mm := re.match(r"(.+) -> (.+)$", msg)):
        e.setdefault("enter " + mm.group(2), t)
    elif msg.startswith("agent "):
        e["spawned"] = t

done = [j for j in jobs if j["status"] == "completed"]
first = min(ms(j["createdAt"]) for j in jobs)
last_created = max(ms(j["createdAt"]) for j in jobs)
ends = [ms(j["finishedAt"]) for j in jobs if j.get("finishedAt")]
last = max(ends) if ends else float("nan")
claim = [ms(j["claimedAt"]) - ms(j["createdAt"]) for j in jobs if j.get("claimedAt")]
git = [ev[j["id"]]["enter running agent"] - ev[j["id"]]["enter preparing workspace"] for j in jobs
       if "enter running agent" in ev.get(j["id"], {})]
agent = [ev[j["id"]]["enter collecting changes"] - ev[j["id"]]["spawned"] for j in jobs
         if "enter collecting changes" in ev.get(j["id"], {}) and "spawned" in ev[j["id"]]]
after = [ms(j["finishedAt"]) - ev[j["id"]]["enter collecting changes"] for j in jobs
         if j.get("finishedAt") and "enter collecting changes" in ev.get(j["id"], {})]

beats = []
for line in open(tdir + "/requests.jsonl"):
    r = json.loads(line)
    if r["path"] == "/api/runner/heartbeat" and isinstance(r.get("body"), dict):
        beats.append((r["t"], bool(r["body"].get("deliverRestart"))))

def gaps(ts):
    return [b - a for a, b in zip(ts, ts[1:])]

# The window: from the first enqueue to the last finish, plus the beats
# on either side, so that a beat held back by the batch counts.
timer = [t for t, steady in beats if steady]
before = [t for t in timer if t < first]
after_ = [t for t in timer if t > last]
win = ([before[-1]] if before else []) + [t for t in timer if first <= t <= last] + (after_[:1] if after_ else [])
tg = gaps(win)
allb = [t for t, _ in beats]
allw = [t for t in allb if (before and t >= before[-1]) and (not after_ or t <= after_[0])]
idle = gaps(before[-4:])

# Busy stretches of the main thread (tid == pid): exit of one epoll_wait to
# the enter of the next; the loop runs callbacks only there. perf also
# follows the children (a stand-in agent's own epoll), and tids wrap.
busy = []
spans = []
try:
    pid = runner_pid
    last_exit = None
    for line in open(tdir + "/loop.txt"):
        p = line.split()
        if len(p) < 3:
            continue
        tid, t, evn = int(p[0]), float(p[1].rstrip(":")), p[2]
        if tid != pid:
            continue
        if "sys_exit_epoll_wait" in evn:
            last_exit = t
        elif "sys_enter_epoll_wait" in evn and last_exit is not None:
            busy.append((t - last_exit) * 1000)
            spans.append((last_exit, t))
            last_exit = None
except OSError:
    pass

# Off-CPU intervals of the main thread: switched out (asleep, or
# preempted when its state was R) until switched back in.
off = []
try:
    out_at, out_state = None, None
    for line in open(tdir + "/sched.txt"):
        m = re.match(r"\s*([\d.]+):\s+prev_comm=.* prev_pid=(\d+) .*prev_state=(\S+) ==> next_comm=.* next_pid=(\d+) ", line)
        if not m:
            continue
        t = float(m.group(1))
        if int(m.group(2)) == runner_pid:
            out_at, out_state = t, m.group(3)
        elif int(m.group(4)) == runner_pid and out_at is not None:
            off.append((out_at, t, out_state.startswith("R")))
            out_at = None
except OSError:
    pass
blocked, preempted = [], []
j = 0
for a, b in spans:
    bl = pr = 0.0
    while j < len(off) and off[j][1] <= a:
        j += 1
    k = j
    while k < len(off) and off[k][0] < b:
        d = min(b, off[k][1]) - max(a, off[k][0])
        if off[k][2]:
            pr += d
        else:
            bl += d
        k += 1
    blocked.append(bl * 1000)
    preempted.append(pr * 1000)
# Git processes at once, from the stand-in's log: +1 at each start, -1 at
# each end, over the batch (first createdAt to last finishedAt).
git_max, git_n, git_busy = 0, 0, 0.0
try:
    evs = []
    for line in open(tdir + "/git.log"):
        p = line.split()
        if len(p) >= 3 and p[0] in ("start", "end"):
            t = int(p[1]) / 1e6
            if first <= t <= last:
                evs.append((t, 1 if p[0] == "start" else -1))
    evs.sort(key=lambda e: (e[0], e[1]))
    cur, prev = 0, None
    for t, d in evs:
        if cur > 0 and prev is not None:
            git_busy += t - prev
        cur += d
        prev = t
        git_max = max(git_max, cur)
        git_n += d > 0
except OSError:
    pass

def f(v, fmt="%.0f"):
    return fmt % v if v == v else "n/a"

print("%d jobs (stand-in claude slow sleep=%s) on %d repositor%s, one runner, --max-jobs %d, "
      "--heartbeat-interval-ms 1000:" % (len(jobs), secs, nrepos, "y" if nrepos == 1 else "ies", len(jobs)))
print("  completed %d/%d; enqueueing took %.0f ms" % (len(done), len(jobs), last_created - first))
print("  batch wall time, first createdAt to last finishedAt: %.2f s" % ((last - first) / 1000))
print("  enqueue -> claim at the relay: median %.0f ms, max %.0f" % (statistics.median(claim), max(claim)))
if git:
    print("  preparing workspace (git): median %.0f ms, max %.0f; sorted: %s" % (
        statistics.median(git), max(git), " ".join("%.0f" % g for g in sorted(git))))
if agent:
    print("  agent run (spawn to exit seen): median %.0f ms, max %.0f" % (statistics.median(agent), max(agent)))
if after:
    print("  agent exit to finishedAt (collect, report): median %.0f ms, max %.0f" % (statistics.median(after), max(after)))
print("  runner CPU over the batch %d ms, VmHWM %d KiB" % (cpu_ms, hwm))
print("  timer heartbeats while the jobs ran: %d gaps, median %s ms, max %s ms (idle before: %s)" % (
    len(tg), f(statistics.median(tg)) if tg else "n/a", f(max(tg)) if tg else "n/a",
    ", ".join("%.0f" % g for g in idle)))
skipped = sum(1 for g in tg if g > 1500)
print("  all heartbeats (timer + claim/finish beats) in that window: %d, max gap %s ms; timer beats missing "
      "(gap > 1.5 s): %d" % (len(allw), f(max(gaps(allw))) if len(allw) > 1 else "n/a", skipped))
if git_n:
    print("  git commands in the batch %d, at most %d at once, some git running %.0f ms of the batch" % (
        git_n, git_max, git_busy))
if busy:
    b = sorted(busy)
    print("  event loop busy stretches (epoll_wait return to next call, perf): %d, p50 %.2f ms, p99 %.1f ms, "
          "max %.1f ms, total %.0f ms" % (len(b), b[len(b) // 2], b[int(0.99 * (len(b) - 1))], b[-1], sum(b)))
if busy and off:
    own = [d - p for d, p in zip(busy, preempted)]
    print("  of those stretches: asleep in a blocking call max %.1f ms, total %.0f ms; waiting for a CPU max %.1f ms, "
          "total %.0f ms; longest stretch less its CPU wait %.1f ms" % (max(blocked), sum(blocked), max(preempted),
                                                                      sum(preempted), max(own)))
    print("RESULT loop blocked (%d repo%s): asleep in a stretch max %.1f ms; stretch less CPU wait max %.1f ms" % (
        nrepos, "" if nrepos == 1 else "s", max(blocked), max(own)))
print("RESULT concurrent (%d repo%s): %d/%d completed, batch %.2f s, git at once max %d, heartbeat gap max %s ms, "
      "median %s ms, loop busy max %s ms" % (
    nrepos, "" if nrepos == 1 else "s", len(done), len(jobs), (last - first) / 1000, git_max, f(max(tg)) if tg else "n/a",
    f(statistics.median(tg)) if tg else "n/a", "%.1f" % max(busy) if busy else "n/a"))
sys.exit(0 if len(done) == len(jobs) else 1)
PY
rc=$?
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
exit $rc
