#!/bin/sh
# Laptops: a sleep inhibitor is held from the claim until the report is
# delivered (a stand-in systemd-inhibit records it), not at all with
# --inhibit-sleep off, and it goes with a runner that was SIGKILLed. A
# runner stopped (SIGSTOP) for 20 s heartbeats and checks its job's
# cancellation within a second of being continued.
. "$(dirname "$0")/lib.sh"
job_world
export PATH="$FIXTURES/inhibit:$PATH"
LOG=$HOME/inhibit.log
now_ms() { date +%s%3N; }
# req_t PATH: the relay's time (ms) of each request to PATH, one a line.
req_t() { python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d["path"] == sys.argv[2]: print(d["t"])' "$T/requests.jsonl" "$1"; }
field() { awk -v k="$1" '$1 == k { print $2; exit }' "$LOG"; }
run_once() {
	_log=$1; shift
	timeout 120 $DR_VG "$RUNNER_BIN" run --once --workspace-root "$WS" --git-clone-base-url "$T/remotes" "$@" >"$_log" 2>&1
}

# on: taken at the claim, released after the report.
id=$(relay job add --repo acme/app --executor codex --identifier ENG-7 --prompt "scenario=slow sleep=3")
run_once "$T/run1.log" --inhibit-sleep on
check_eq "the job completed" completed "$(relay job show "$id" --json | jsonq "d['status']")"
check_contains "an inhibitor was taken for the job" "--what=sleep:idle --mode=block --who=delego-runner --why=job ENG-7 is running" "$LOG"
take=$(field take); rel=$(field release)
claim=$(req_t /api/runner/jobs/poll | head -n 1); done_t=$(req_t /api/runner/jobs/complete | tail -n 1)
check "taken after the claim ($take >= $claim)" test "${take:-0}" -ge "${claim:-1}"
check "released after the report ($rel >= $done_t)" test "${rel:-0}" -ge "${done_t:-1}"
check "released within a few seconds of it" test $(( ${rel:-0} - ${done_t:-0} )) -lt 3000
check_eq "one inhibitor for one job" 1 "$(grep -c '^take' "$LOG")"

# off: none.
rm -f "$LOG"
id=$(relay job add --repo acme/app --executor codex --identifier ENG-8 --prompt "scenario=success")
run_once "$T/run2.log" --inhibit-sleep off
check_eq "job completed without inhibitor" completed "$(relay job show "$id" --json | jsonq "d['status']")"
check "no inhibitor with --inhibit-sleep off" test ! -e "$LOG"
if [ ! -d /sys/class/power_supply ] || ! grep -qx Battery /sys/class/power_supply/*/type 2>/dev/null; then
	id=$(relay job add --repo acme/app --executor codex --identifier ENG-9 --prompt "scenario=success")
	run_once "$T/run3.log"
	check "auto without a battery: no inhibitor" test ! -e "$LOG"
else
	echo "# SKIP auto without a battery: this machine has one"
fi

# A SIGKILLed runner does not keep the machine awake: the waiter sees it go.
rm -f "$LOG"
id=$(relay job add --repo acme/app --executor codex --identifier ENG-10 --prompt "scenario=slow sleep=60")
runner_bg "$T/run4.log" run --workspace-root "$WS" --git-clone-base-url "$T/remotes" --inhibit-sleep on \
	--cancellation-poll-interval-ms 60000
running() { relay job show "$id" --json | jsonq "any('still working' in (e['summary'] or '') for e in d['events'])" | grep -q true; }
check "the agent runs" wait_for 20 running
check "the inhibitor is held" grep -q '^take' "$LOG"

# SIGSTOP for 20 s: a heartbeat and a jobs/status within 1 s of SIGCONT.
kill -STOP "$RUNNER_PID"
sleep 20
t_cont=$(now_ms)
kill -CONT "$RUNNER_PID"
sleep 1.5
hb=$(req_t /api/runner/heartbeat | awk -v t="$t_cont" '$1 >= t' | head -n 1)
st=$(req_t /api/runner/jobs/status | awk -v t="$t_cont" '$1 >= t' | head -n 1)
check "a heartbeat within 1 s of SIGCONT (+$(( ${hb:-0} - t_cont )) ms)" test -n "$hb" -a $(( ${hb:-0} - t_cont )) -le 1000
check "a cancellation check within 1 s (+$(( ${st:-0} - t_cont )) ms)" test -n "$st" -a $(( ${st:-0} - t_cont )) -le 1000
check_contains "the runner says why" "the machine slept or the runner was stopped for about" "$T/run4.log"

kill -KILL "$RUNNER_PID"
check "the inhibitor ends with the killed runner" wait_for 15 grep -q '^ended' "$LOG"
check_not_contains "it was not terminated by anyone else" "release" "$LOG"
pkill -KILL -f -- "--cd $WS/" 2>/dev/null
done_testing
