#!/bin/sh
# The after-job sweep with many large worktrees kept: a generated upstream
# of BENCH_FILES (50,000) files in BENCH_DIRS (2,000) directories (as
# bigrepo.sh), one runner (--max-jobs 1, --warm-worktrees 0, the default
# retention: every finished worktree is kept), BENCH_KEPT (11) jobs one
# after another to fill the workspace, then BENCH_CHAIN (6) jobs enqueued
# back to back (stand-in Claude `slow sleep=1`), so that each one is
# claimed as soon as the one before it has ended and its report is in.
# Per link of the chain: the runner's "job X finished" line to its "claimed
# job Y" line (the gap the sweep may widen) and to Y's "agent ... started"
# line, one clock; and, from the runner's debug log, how long each sweep
# took and how many worktrees it measured (older runners do not say), and
# the time of a full scan (`workspace ls`) of the workspace at the end.
# Target: the gap does not grow with the worktrees kept.
set -u
case $0 in /*) ;; *) exec sh "$(cd "$(dirname "$0")" && pwd)/$(basename "$0")" "$@" ;; esac
. "$(dirname "$0")/../integration/lib.sh"
export PATH="$FIXTURES/bin:$PATH"
kept=${BENCH_KEPT:-11}
chain=${BENCH_CHAIN:-6}
files=${BENCH_FILES:-50000}
dirs=${BENCH_DIRS:-2000}
bytes=${BENCH_FILE_BYTES:-6000}
UP=$T/remotes/acme/app.git

relay_start || exit 1
pair_runner || { echo "pairing failed"; exit 1; }
git init -q --bare -b main "$UP"
python3 "$(dirname "$0")/bigrepo.py" "$files" "$dirs" 1 "$bytes" | git --git-dir "$UP" fast-import --quiet
echo "generated $files files in $dirs directories ($(du -sh "$UP" | cut -f1) packed)"

log=$T/run.log
runner_bg "$log" run --max-jobs 1 --log-level debug --workspace-root "$T/ws" --git-clone-base-url "$T/remotes" \
	--supported-executors claude --warm-worktrees 0
wait_for 10 grep -q "connected to relay" "$log" || { echo "runner did not start"; cat "$log"; exit 1; }
i=1
t0=$(date +%s)
while [ $i -le "$kept" ]; do
	id=$(relay job add --repo acme/app --executor claude --identifier "KEEP-$i" --prompt "scenario=success") || exit 1
	wait_for 300 grep -q "job $id finished" "$log" || { echo "job $id did not finish"; tail "$log"; exit 1; }
	i=$((i + 1))
done
echo "$kept worktrees kept, made in $(( $(date +%s) - t0 )) s; workspace $(du -sh "$T/ws" | cut -f1)"
sleep 5 # the last sweep
: >"$T/ids"
i=1
while [ $i -le "$chain" ]; do
	relay job add --repo acme/app --executor claude --identifier "CHAIN-$i" --prompt "scenario=slow sleep=1" >>"$T/ids" || exit 1
	i=$((i + 1))
done
last=$(tail -n 1 "$T/ids")
wait_for $((chain * 120)) grep -q "job $last finished" "$log" || { echo "the chain did not finish"; tail "$log"; exit 1; }
sleep 5
kill -TERM "$RUNNER_PID"; wait_exit "$RUNNER_PID" 60
# What a full scan of this workspace costs: what every sweep did before the memo.
s0=$(date +%s%N)
"$RUNNER_BIN" workspace ls --workspace-root "$T/ws" >"$T/ls.txt" 2>&1 || { echo "workspace ls failed"; cat "$T/ls.txt"; }
echo "full scan (workspace ls) of $(grep -c '^kept worktrees\|worktrees/' "$T/ls.txt") entries: $(( ($(date +%s%N) - s0) / 1000000 )) ms"
python3 - "$log" "$T/ids" "$kept" <<'PY'
import re, statistics, sys
from datetime import datetime, timezone
log, ids, kept = sys.argv[1], open(sys.argv[2]).read().split(), int(sys.argv[3])
def ms(iso):
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp() * 1000
ev, sweeps = {}, []
for line in open(log):
    m = re.match(r"^(\S+Z) delego-runner \w+: (.*)$", line.rstrip("\n"))
    if not m:
        continue
    t, msg = ms(m.group(1)), m.group(2)
    if (mm := re.match(r"claimed job (\S+)$", msg)):
        ev.setdefault(mm.group(1), {})["claimed"] = t
    elif (mm := re.match(r"job (\S+) finished$", msg)):
        ev.setdefault(mm.group(1), {})["finished"] = t
    elif (mm := re.match(r"job (\S+): agent \S+ started, pid \d+$", msg)):
        ev.setdefault(mm.group(1), {})["spawned"] = t
    elif (mm := re.match(r"workspace gc: swept in (\d+) ms, (\d+) of (\d+) worktree", msg)):
        sweeps.append((t, int(mm.group(1)), int(mm.group(2)), int(mm.group(3))))
claim = [ev[b]["claimed"] - ev[a]["finished"] for a, b in zip(ids, ids[1:])]
spawn = [ev[b]["spawned"] - ev[a]["finished"] for a, b in zip(ids, ids[1:])]
t_first = ev[ids[0]]["claimed"]
chain_sweeps = [s for s in sweeps if s[0] > t_first]
print("job end -> next claim ms: %s" % " ".join("%.0f" % v for v in claim))
print("job end -> next agent spawn ms: %s" % " ".join("%.0f" % v for v in spawn))
if chain_sweeps:
    print("sweeps in the chain: %s (ms, measured/worktrees)" % " ".join(
        "%d(%d/%d)" % (s[1], s[2], s[3]) for s in chain_sweeps))
print("RESULT sweep, %d+ large worktrees kept: job end -> next claim median %.0f ms (max %.0f); -> next agent spawn "
      "median %.0f ms; sweep median %s ms" % (
    kept, statistics.median(claim), max(claim), statistics.median(spawn),
    "%.0f" % statistics.median([s[1] for s in chain_sweeps]) if chain_sweeps else "n/a"))
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
