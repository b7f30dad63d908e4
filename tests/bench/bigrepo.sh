#!/bin/sh
# Claim -> agent spawn on a large repository: a generated upstream of
# BENCH_FILES (50,000) files in BENCH_DIRS (2,000) directories, about
# BENCH_FILE_BYTES (6,000) bytes each, with BENCH_COMMITS (200) commits.
# One runner (--max-jobs 1, --log-level debug) runs BENCH_JOBS (10) jobs
# one after another (stand-in Claude `success`), after a warm-up job that
# clones the cache, twice: with --warm-worktrees 0 (every job checks out
# the whole tree: the cold figure) and with --warm-worktrees 1 (a spare
# made in the background is moved into the next job's place). Finished
# worktrees go at each sweep (--worktree-retention-days 0), so the disk
# holds only a few trees. Per job: the runner's "claimed job" line to its
# "agent ... started" line (one clock), and the "preparing workspace" time.
# BENCH_SERIES ("0 1") picks the series. BENCH_GIT_LOG=1 puts a stand-in
# `git` first on the runner's PATH that logs each command's start and end
# (it costs a few ms a command) and prints, per git command, its median
# time inside the claim -> spawn windows: where the time goes.
# Target: median <= 250 ms with a warm worktree.
set -u
case $0 in /*) ;; *) exec sh "$(cd "$(dirname "$0")" && pwd)/$(basename "$0")" "$@" ;; esac
. "$(dirname "$0")/../integration/lib.sh"
export PATH="$FIXTURES/bin:$PATH"
jobs=${BENCH_JOBS:-10}
files=${BENCH_FILES:-50000}
dirs=${BENCH_DIRS:-2000}
commits=${BENCH_COMMITS:-200}
bytes=${BENCH_FILE_BYTES:-6000}
UP=$T/remotes/acme/app.git

relay_start || exit 1
pair_runner || { echo "pairing failed"; exit 1; }
git init -q --bare -b main "$UP"
t0=$(date +%s)
# git fast-import: the first commit holds every file, each later one changes a few.
python3 "$(dirname "$0")/bigrepo.py" "$files" "$dirs" "$commits" "$bytes" | git --git-dir "$UP" fast-import --quiet
echo "generated $files files in $dirs directories, $commits commits, in $(( $(date +%s) - t0 )) s ($(du -sh "$UP" | cut -f1) packed)"

# run_series WARM: a fresh workspace, a warm-up job, then $jobs jobs; prints one line of figures.
run_series() {
	ws=$T/ws-$1
	log=$T/run-$1.log
	keep_path=$PATH
	: >"$T/git-$1.log"
	if [ "${BENCH_GIT_LOG:-0}" = 1 ]; then
		mkdir -p "$T/gitwrap-$1"
		{
			echo '#!/bin/sh'
			echo "echo \"start \$(date +%s%N) \$\$ \$*\" >>'$T/git-$1.log'"
			echo "'$(command -v git)' \"\$@\""
			echo 'rc=$?'
			echo "echo \"end \$(date +%s%N) \$\$\" >>'$T/git-$1.log'"
			echo 'exit $rc'
		} >"$T/gitwrap-$1/git"
		chmod +x "$T/gitwrap-$1/git"
		PATH="$T/gitwrap-$1:$PATH"
	fi
	runner_bg "$log" run --max-jobs 1 --log-level debug --workspace-root "$ws" --git-clone-base-url "$T/remotes" \
		--supported-executors claude --warm-worktrees "$1" --worktree-retention-days 0
	PATH=$keep_path
	wait_for 10 grep -q "connected to relay" "$log" || { echo "runner did not start"; cat "$log"; exit 1; }
	: >"$T/ids-$1"
	i=0
	while [ $i -le "$jobs" ]; do
		id=$(relay job add --repo acme/app --executor claude --identifier "BIG-$1-$i" --prompt "scenario=success") || exit 1
		[ $i -gt 0 ] && echo "$id" >>"$T/ids-$1"
		wait_for 120 grep -q "job $id finished" "$log" || { echo "job $id did not finish"; tail "$log"; exit 1; }
		# the sweep and the next spare: as a user between two delegations
		sleep "${BENCH_GAP:-3}"
		i=$((i + 1))
	done
	kill -TERM "$RUNNER_PID"; wait_exit "$RUNNER_PID" 60
	python3 - "$log" "$T/ids-$1" "$1" "$T/git-$1.log" <<'PY'
import re, statistics, sys
from datetime import datetime, timezone
log, ids, warm, gitlog = sys.argv[1], open(sys.argv[2]).read().split(), sys.argv[3], sys.argv[4]
def ms(iso):
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp() * 1000
ev = {}
for line in open(log):
    m = re.match(r"^(\S+Z) delego-runner \w+: (.*)$", line.rstrip("\n"))
    if not m:
        continue
    t, msg = ms(m.group(1)), m.group(2)
    if (mm := re.match(r"claimed job (\S+)$", msg)):
        ev.setdefault(mm.group(1), {})["claimed"] = t
    elif (mm := re.match(r"job (\S+): (.+) -> (.+)$", msg)):
        ev.setdefault(mm.group(1), {}).setdefault("enter " + mm.group(3), t)
    elif (mm := re.match(r"job (\S+): agent \S+ started, pid \d+$", msg)):
        ev.setdefault(mm.group(1), {})["spawned"] = t
spawn = [ev[j]["spawned"] - ev[j]["claimed"] for j in ids]
git = [ev[j]["enter running agent"] - ev[j]["enter preparing workspace"] for j in ids]
print("warm-worktrees %s: claim->spawn ms %s" % (warm, " ".join("%.0f" % v for v in spawn)))
# Per git command (its first words, paths left out), the median time inside the claim -> spawn windows.
wins = [(ev[j]["claimed"], ev[j]["spawned"]) for j in ids]
starts, per = {}, {}
for line in open(gitlog):
    p = line.split()
    if len(p) < 3:
        continue
    t = int(p[1]) / 1e6
    if p[0] == "start":
        words = [w for w in p[3:] if not w.startswith("/") and not w.startswith("delego/")][:3]
        starts[p[2]] = (t, " ".join(words))
    elif p[2] in starts:
        t0, what = starts.pop(p[2])
        if any(a <= t0 <= b for a, b in wins):
            per.setdefault(what, []).append(t - t0)
for what, v in sorted(per.items(), key=lambda kv: -sum(kv[1])):
    print("  git %-40s x%-3d median %5.0f ms, total %6.0f ms" % (what, len(v), statistics.median(v), sum(v)))
print("RESULT warm-worktrees %s: claim->agent spawn median %.0f ms (min %.0f, max %.0f); preparing median %.0f ms" % (
    warm, statistics.median(spawn), min(spawn), max(spawn), statistics.median(git)))
PY
}
for series in ${BENCH_SERIES:-0 1}; do
	run_series "$series"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
