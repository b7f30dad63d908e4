#!/bin/sh
# Realtime push against delego-relay: with long poll off in the relay
# (serve --no-long-poll) and every runner interval at 60 s, only a push can
# explain a pickup within seconds; a cancel with the cancellation poll at
# 60 s reaches the agent through push only; `status` shows "push": true.
. "$(dirname "$0")/lib.sh"
export PATH="$FIXTURES/bin:$PATH"
WS=$T/ws
UP=$T/remotes/acme/app.git

relay_start --no-long-poll || exit 1
pair_runner || { not_ok "pairing"; done_testing; exit 1; }
git init -q --bare -b main "$UP"
git init -q -b main "$T/seed"
(cd "$T/seed" && echo hello > README.md && git add . && git commit -q -m initial && git push -q "$UP" main)
STATUS=$XDG_STATE_HOME/delego-runner/default/status.json
status_push() { [ -s "$STATUS" ] && [ "$(json "$STATUS" "d['push']")" = "$1" ]; }
job_status() { [ "$(relay job show "$1" --json | jsonq "d['status']")" = "$2" ]; }
count_path() { grep -c "\"path\":\"/api/runner/$1\"" "$T/requests.jsonl"; }
ms() { python3 -c 'import time; print(int(time.time() * 1000))'; }
claimed() { [ "$(relay job show "$1" --json | jsonq "d['claimedAt'] is not None")" = true ]; }
# pickup_ms ID: from queued to claimed, on the relay's own clock.
pickup_ms() {
	relay job show "$1" --json | jsonq "__import__('datetime').datetime.fromisoformat(d['claimedAt'].replace('Z', '+00:00')).timestamp() * 1000 - __import__('datetime').datetime.fromisoformat(d['createdAt'].replace('Z', '+00:00')).timestamp() * 1000" | cut -d. -f1
}

runner_bg "$T/run.log" run --log-level debug --workspace-root "$WS" --git-clone-base-url "$T/remotes" \
	--poll-interval-ms 60000 --safety-sync-interval-ms 60000 --fallback-poll-interval-ms 60000 \
	--cancellation-poll-interval-ms 60000
check "status shows push live" wait_for 10 status_push true
check_contains "the log says push is live" "realtime push is live" "$T/run.log"
check_contains "the relay answered realtime-token" '"path":"/api/runner/realtime-token","status":200' "$T/requests.jsonl"
check_not_contains "the token is not logged" "apikey=" "$T/run.log"
sleep 1 # let the poll that follows the subscription finish: the runner is idle now
polls=$(count_path jobs/poll)

# Pickup by push.
id=$(relay job add --repo acme/app --executor codex --identifier RT-1 --prompt "scenario=slow sleep=60")
if wait_for 10 claimed "$id"; then
	d=$(pickup_ms "$id")
	ok "a job queued while idle is claimed (in $d ms)"
	check "within 1 s, far before the 60 s intervals" test "$d" -lt 1000
else
	not_ok "a job queued while idle is claimed"
fi
check_eq "one push-triggered poll claimed it" $((polls + 1)) "$(count_path jobs/poll)"
check "the agent runs" wait_for 10 grep -q "running agent" "$T/run.log"

# Cancellation by push.
t0=$(ms)
relay job cancel "$id" >/dev/null
if wait_for 10 grep -q "job $id: cancellation requested (realtime push)" "$T/run.log"; then
	t1=$(ms)
	ok "the cancel reached the runner by push (in $((t1 - t0)) ms)"
	check "within 3 s" test $((t1 - t0)) -lt 3000
else
	not_ok "the cancel reached the runner by push"
fi
check "the job's final report arrives" wait_for 20 grep -q "job $id finished" "$T/run.log"
check_eq "the runner never asked jobs/status (its poll is at 60 s)" 0 "$(count_path jobs/status)"
relay job show "$id" --json >"$T/job.json"
check_eq "reported as a cancelled failure" "Executor was cancelled by relay request. True" "$(json "$T/job.json" "[e['summary'] + ' ' + str(e['metadata']['cancelled']) for e in d['events'] if e['kind'] == 'fail'][-1]")"
check_eq "no agent left" 0 "$(pgrep -f -- "--cd $WS/" | wc -l)"

# A second job after the first: push again.
sleep 1
id2=$(relay job add --repo acme/app --executor codex --identifier RT-2 --prompt "scenario=success")
check "a second job is picked up by push" wait_for 5 job_status "$id2" completed
check "within 1 s of being queued" test "$(pickup_ms "$id2")" -lt 1000

# Stop: push goes down with the runner.
kill -TERM "$RUNNER_PID"
wait_exit "$RUNNER_PID" 15
check_eq "SIGTERM ends the runner with 0" 0 "$EXIT"
check_eq "the status file says push is off" false "$(json "$STATUS" "d['push']")"
done_testing
