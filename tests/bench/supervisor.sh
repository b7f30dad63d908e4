#!/bin/sh
# Footprint of an agent's supervisor (delego-runner-exec __supervise, one per
# running job) while its agent is quiet: BENCH_N (5) supervisors of a
# `sleep` agent at once; after a second to settle, each one's VmRSS,
# RssAnon, RssFile and Pss (/proc/<pid>/smaps_rollup), and its CPU ticks
# over BENCH_SECONDS (10). Prints each, then the medians.
# EXEC_BIN=path measures another build of delego-runner-exec.
# Targets: VmRSS <= 1 MiB, no CPU tick while the agent is quiet.
set -u
. "$(dirname "$0")/../integration/lib.sh"
n=${BENCH_N:-5}
secs=${BENCH_SECONDS:-10}
exe=${EXEC_BIN:-$(dirname "$RUNNER_BIN")/delego-runner-exec}
sleeper=$(command -v sleep)

pids=
i=0
while [ $i -lt "$n" ]; do
	mkdir -p "$T/job$i.d"
	"$exe" __supervise "$T/job$i.d" "$sleeper" sleep 3600 >/dev/null 2>&1 &
	track_pid $!
	pids="$pids $!"
	i=$((i + 1))
done
sleep 1

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
field() { awk -v k="$2:" '$1 == k {print $2}' "$1"; }
for p in $pids; do echo "$(ticks "$p")" >"$T/t0.$p"; done
sleep "$secs"
echo "# $exe ($(ls -l "$exe" | awk '{print $5}') bytes; $(ldd "$exe" 2>/dev/null | grep -c '=>') shared libraries)"
printf '%-8s %8s %8s %8s %8s %6s\n' pid VmRSS RssAnon RssFile Pss ticks
for p in $pids; do
	t=$(( $(ticks "$p") - $(cat "$T/t0.$p") ))
	printf '%-8s %8s %8s %8s %8s %6s\n' "$p" "$(field "/proc/$p/status" VmRSS)" "$(field "/proc/$p/status" RssAnon)" \
		"$(field "/proc/$p/status" RssFile)" "$(field "/proc/$p/smaps_rollup" Pss)" "$t" | tee -a "$T/rows"
done
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
for col in 2:VmRSS 3:RssAnon 4:RssFile 5:Pss; do
	echo "RESULT supervisor median ${col#*:} $(awk -v c="${col%%:*}" '{print $c}' "$T/rows" | median) kB"
done
echo "RESULT supervisor median CPU $(awk '{print $6}' "$T/rows" | median) ticks in ${secs} s ($(getconf CLK_TCK) a second)"
echo "# load: $(cut -d' ' -f1-3 /proc/loadavg)"
for p in $pids; do kill "$p" 2>/dev/null; done
