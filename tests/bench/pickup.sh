#!/bin/sh
# Pickup latency: from the moment a job is enqueued at the relay to the
# moment the runner has spawned its agent, for BENCH_JOBS (20) jobs run one
# after another on one idle runner (--max-jobs 1) that long-polls a local
# `delego-relay serve`. One warm-up job first clones the source cache.
#
# Enqueue = the relay's own createdAt (ms) of the job; the claim, the state
# changes and "agent ... started" come from the runner's --log-level debug
# log (ms timestamps, same clock). "excluding git" subtracts the time spent
# in the "preparing workspace" state (git fetch + worktree add) from the
# total. Columns (ms after createdAt unless said): claim@relay = the
# relay's claimedAt, answer@relay = its request log's answer to that poll,
# claim@runner = the runner's "claimed job" line (after its job journal
# entry is written), to prepare / git / to spawn = durations from the
# claim to "preparing workspace", of that state, and from "running agent"
# to "agent ... started". Prints per-job rows, then min / median / p90 / max.
# Target: median pickup excluding git <= 50 ms.
set -u
case $0 in /*) ;; *) exec sh "$(cd "$(dirname "$0")" && pwd)/$(basename "$0")" "$@" ;; esac
. "$(dirname "$0")/../integration/lib.sh"
export PATH="$FIXTURES/bin:$PATH"
jobs=${BENCH_JOBS:-20}
UP=$T/remotes/acme/app.git

relay_start || exit 1
pair_runner || { echo "pairing failed"; exit 1; }
git init -q --bare -b main "$UP"
git init -q -b main "$T/seed"
(cd "$T/seed" && echo hello >README.md && git add . && git commit -q -m initial && git push -q "$UP" main)

runner_bg "$T/run.log" run --max-jobs 1 --log-level debug --workspace-root "$T/ws" \
	--git-clone-base-url "$T/remotes" --supported-executors claude
wait_for 10 grep -q "connected to relay" "$T/run.log" || { echo "runner did not start"; cat "$T/run.log"; exit 1; }

# one_job N: enqueues a job and waits until the runner has finished it.
one_job() {
	_id=$(relay job add --repo acme/app --executor claude --identifier "BENCH-$1" --prompt "scenario=success") || return 1
	echo "$_id" >>"$T/ids"
	wait_for 30 grep -q "job $_id finished" "$T/run.log" || { echo "job $_id did not finish"; return 1; }
	sleep 0.4 # the runner beats idle and is back in its long poll
}
: >"$T/ids"
one_job 0 || exit 1 # warm-up: the first job clones the source cache
: >"$T/ids"
i=1
while [ $i -le "$jobs" ]; do
	one_job $i || exit 1
	i=$((i + 1))
done
for id in $(cat "$T/ids"); do
	relay job show "$id" --json >"$T/job-$id.json"
done

tick=$(awk '/define RELAY_TICK_MS/ {print $3}' "$TOP/cmd/delego-relay/server.h")
python3 - "$T" "$T/run.log" "${tick:-?}" <<'PY'
import json, re, statistics, sys
from datetime import datetime, timezone

tdir, log, tick = sys.argv[1], sys.argv[2], sys.argv[3]

def ms(iso):
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp() * 1000

events = {}  # job id -> {what: ms}
line_re = re.compile(r"^(\S+Z) delego-runner \w+: (.*)$")
for line in open(log):
    m = line_re.match(line.rstrip("\n"))
    if not m:
        continue
    t, msg = ms(m.group(1)), m.group(2)
    if (mm := re.match(r"claimed job (\S+)$", msg)):
        events.setdefault(mm.group(1), {})["claimed"] = t
    elif (mm := re.match(r"job (\S+): (.+) -> (.+)$", msg)):
        events.setdefault(mm.group(1), {}).setdefault("enter " + mm.group(3), t)
    elif (mm := re.match(r"job (\S+): agent \S+ started, pid \d+$", msg)):
        events.setdefault(mm.group(1), {})["spawned"] = t

polls = []  # the relay's answers to jobs/poll, from its --request-log
for line in open(tdir + "/requests.jsonl"):
    r = json.loads(line)
    if r["path"] == "/api/runner/jobs/poll" and r["status"] == 200:
        polls.append(r["t"])

rows = []
for jid in open(tdir + "/ids").read().split():
    job = json.load(open("%s/job-%s.json" % (tdir, jid)))
    e = events.get(jid, {})
    if job["status"] != "completed" or "spawned" not in e:
        print("job %s: status %s, events %s" % (jid, job["status"], sorted(e)))
        sys.exit(1)
    created, relay_claimed = ms(job["createdAt"]), ms(job["claimedAt"])
    git = e["enter running agent"] - e["enter preparing workspace"]
    total = e["spawned"] - created
    answered = min((t for t in polls if t >= relay_claimed), default=float("nan"))
    rows.append({
        "claim@relay": relay_claimed - created,      # the long poll woke and claimed
        "answer@relay": answered - created,           # the relay logged its answer
        "claim@runner": e["claimed"] - created,       # the answer reached the runner, logged
        "to prepare": e["enter preparing workspace"] - e["claimed"],
        "git": git,
        "to spawn": e["spawned"] - e["enter running agent"],
        "total": total,
        "excl git": total - git,
    })

cols = list(rows[0])
print("pickup latency, ms from the relay's createdAt (one idle runner, --max-jobs 1, %d jobs):" % len(rows))
print("  " + " ".join("%12s" % c for c in cols))
for r in rows:
    print("  " + " ".join("%12.0f" % r[c] for c in cols))

def p90(v):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(0.9 * (len(v) - 1))))]

for name, f in (("min", min), ("median", statistics.median), ("p90", p90), ("max", max)):
    print("  " + " ".join("%12.0f" % f([r[c] for r in rows]) for c in cols) + "  " + name)
med = statistics.median([r["excl git"] for r in rows])
print("RESULT pickup excl git: median %.0f ms, p90 %.0f, min %.0f, max %.0f (target <= 50 ms: %s)" % (
    med, p90([r["excl git"] for r in rows]), min(r["excl git"] for r in rows), max(r["excl git"] for r in rows),
    "met" if med <= 50 else "MISSED"))
print("RESULT pickup with git: median %.0f ms, p90 %.0f, min %.0f, max %.0f" % (
    statistics.median([r["total"] for r in rows]), p90([r["total"] for r in rows]),
    min(r["total"] for r in rows), max(r["total"] for r in rows)))
print("RESULT enqueue -> claim at the relay: median %.0f ms, max %.0f (the relay re-checks waiting polls every %s ms)" % (
    statistics.median([r["claim@relay"] for r in rows]), max(r["claim@relay"] for r in rows), tick))
PY
rc=$?
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
kill -TERM "$RUNNER_PID"
wait_exit "$RUNNER_PID" 10
exit $rc
