#!/bin/sh
# Idle footprint of the daemon: 60 s (BENCH_SECONDS) against a local relay
# with a 1 s heartbeat. Prints VmRSS, RssAnon, CPU time over the window,
# and the wake-ups seen by strace (every epoll_wait return is one).
# Targets (issue 2): VmRSS <= 12 MiB, RssAnon <= 3 MiB, CPU <= 50 ms / 60 s.
set -u
# lib.sh finds the tree from $0 (tests/bench/.. /..): source it without cd.
. "$(dirname "$0")/../integration/lib.sh"
secs=${BENCH_SECONDS:-60}

relay_start || exit 1
pair_runner || { echo "pairing failed"; exit 1; }
"$RUNNER_BIN" run --heartbeat-interval-ms 1000 --log-level warn >"$T/run.log" 2>&1 &
pid=$!
track_pid $pid
wait_for 10 test -s "$XDG_STATE_HOME/delego-runner/default/status.json"
sleep 2 # let the first heartbeat and poll settle

ticks() { awk '{print $14 + $15}' /proc/$pid/stat; }
uticks() { awk '{print $14}' /proc/$pid/stat; }
hz=$(getconf CLK_TCK)
t0=$(ticks)
u0=$(uticks)
beats0=$(grep -c heartbeat "$T/requests.jsonl")
if command -v perf >/dev/null 2>&1 && perf stat -e task-clock true >/dev/null 2>&1; then
	# task-clock is exact; /proc ticks are 10 ms apart.
	perf stat -e task-clock -p $pid -o "$T/perf.txt" sleep "$secs" >/dev/null 2>&1
	task_ms=$(awk '/task-clock/ {print $1}' "$T/perf.txt")
else
	sleep "$secs"
fi
t1=$(ticks)
u1=$(uticks)
beats1=$(grep -c heartbeat "$T/requests.jsonl")
# strace after the CPU window: tracing inflates the tracee's CPU time.
if command -v strace >/dev/null 2>&1; then
	timeout 10 strace -c -f -p $pid -o "$T/strace.txt" >/dev/null 2>&1
fi

rss=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)
anon=$(awk '/^RssAnon/ {print $2}' /proc/$pid/status)
cpu_ms=$(( (t1 - t0) * 1000 / hz ))
echo "idle ${secs}s: VmRSS ${rss} KiB, RssAnon ${anon} KiB, CPU ${cpu_ms} ms by /proc ticks (user $(( (u1 - u0) * 1000 / hz )) ms), task-clock ${task_ms:-n/a} ms, heartbeats $((beats1 - beats0))"
if [ -s "$T/strace.txt" ]; then
	echo "syscalls over 10 s after the window (strace -c):"
	sed -n '1,25p' "$T/strace.txt"
fi
kill -TERM $pid
wait_exit $pid 5
echo "exit on SIGTERM: $EXIT"
