#!/bin/sh
# Without push the runner polls: against a relay with neither long poll nor
# a reachable push server (serve --no-long-poll --no-realtime) it claims at
# its fallback poll interval and says push is off. With push, a dropped connection (the relay goes
# away) turns push off, and the runner reconnects and subscribes again
# when the relay is back.
. "$(dirname "$0")/lib.sh"
export PATH="$FIXTURES/bin:$PATH"
STATUS=$XDG_STATE_HOME/delego-runner/default/status.json
status_push() { [ -s "$STATUS" ] && [ "$(json "$STATUS" "d['push']")" = "$1" ]; }
claimed() { [ "$(relay job show "$1" --json | jsonq "d['claimedAt'] is not None")" = true ]; }

# 1. Neither long poll nor a reachable push server: polls at the fallback interval (as Node),
# not at the poll interval, and one realtime token serves every reconnect attempt.
relay_start --no-long-poll --no-realtime || exit 1
pair_runner || { not_ok "pairing"; done_testing; exit 1; }
runner_bg "$T/run1.log" run --log-level debug --workspace-root "$T/ws" --poll-interval-ms 1000 \
	--fallback-poll-interval-ms 5000
check "the runner says push is unavailable" wait_for 10 grep -q "realtime push unavailable" "$T/run1.log"
check "status says push is off" status_push false
id=$(relay job add --repo acme/app --executor codex --prompt "scenario=success")
check "a job is claimed by fallback polling" wait_for 15 claimed "$id"
sleep 6
n=$(grep -c '"path":"/api/runner/jobs/poll"' "$T/requests.jsonl")
check "it polls at the fallback interval, not every second (got $n polls)" test "$n" -ge 2 -a "$n" -le 6
n=$(grep -c '"path":"/api/runner/realtime-token"' "$T/requests.jsonl")
check_eq "one realtime token for all reconnect attempts" 1 "$n"
kill -TERM "$RUNNER_PID"; wait_exit "$RUNNER_PID" 15
check_eq "the runner stops with 0" 0 "$EXIT"
relay_stop

# 2. Push, a dropped connection, reconnect.
relay_start --no-long-poll || exit 1
runner_bg "$T/run2.log" run --log-level debug --workspace-root "$T/ws" --poll-interval-ms 60000 \
	--safety-sync-interval-ms 60000 --fallback-poll-interval-ms 60000
check "push is live" wait_for 10 status_push true
relay_stop
check "the runner notices the drop" wait_for 10 grep -q "realtime push lost" "$T/run2.log"
check "status says push is off" wait_for 5 status_push false
relay_start --no-long-poll || exit 1
check "it reconnects when the relay is back" wait_for 20 status_push true
check_eq "and subscribes again" 2 "$(grep -c "realtime push is live" "$T/run2.log")"
sleep 1
id=$(relay job add --repo acme/app --executor codex --prompt "scenario=success")
check "a job is picked up by push after the reconnect" wait_for 5 claimed "$id"
kill -TERM "$RUNNER_PID"; wait_exit "$RUNNER_PID" 15
check_eq "the runner stops with 0" 0 "$EXIT"
done_testing
