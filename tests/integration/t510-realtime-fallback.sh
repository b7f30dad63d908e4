#!/bin/sh
# Without push the runner polls: against a relay with neither long poll nor
# push (serve --no-long-poll --no-realtime) it claims at its poll interval
# and says push is off. With push, a dropped connection (the relay goes
# away) turns push off, and the runner reconnects and subscribes again
# when the relay is back.
. "$(dirname "$0")/lib.sh"
export PATH="$FIXTURES/bin:$PATH"
STATUS=$XDG_STATE_HOME/delego-runner/default/status.json
status_push() { [ -s "$STATUS" ] && [ "$(json "$STATUS" "d['push']")" = "$1" ]; }
claimed() { [ "$(relay job show "$1" --json | jsonq "d['claimedAt'] is not None")" = true ]; }

# 1. Neither long poll nor push: interval polling.
relay_start --no-long-poll --no-realtime || exit 1
pair_runner || { not_ok "pairing"; done_testing; exit 1; }
runner_bg "$T/run1.log" run --log-level debug --workspace-root "$T/ws" --poll-interval-ms 1000
check "the runner says push is unavailable" wait_for 10 grep -q "realtime push unavailable" "$T/run1.log"
check "status says push is off" status_push false
id=$(relay job add --repo acme/app --executor codex --prompt "scenario=success")
check "a job is claimed by interval polling" wait_for 10 claimed "$id"
n=$(grep -c '"path":"/api/runner/jobs/poll"' "$T/requests.jsonl")
check "it polls every second or so (got $n polls)" test "$n" -ge 3
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
