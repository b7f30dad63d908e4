#!/bin/sh
# delego-runner run: heartbeats with the right bodies at the configured
# interval, clean exits (signal, restart request, revoked credential),
# a relay that is down at start, config reload, journald log format.
. "$(dirname "$0")/lib.sh"

relay_start || exit 1
pair_runner || { not_ok "pairing for the daemon tests"; done_testing; exit 1; }
CREDS=$XDG_CONFIG_HOME/delego-runner/credentials.json
bearer=$(json "$CREDS" "d['profiles']['default']['bearer']")

heartbeats() { cat "$T/requests.jsonl" 2>/dev/null | grep -c '"/api/runner/heartbeat"'; }

runner_bg "$T/run.log" run --heartbeat-interval-ms 1000 --poll-interval-ms 1000
beats_at_least() { test "$(heartbeats)" -ge "$1"; }
check "heartbeats arrive" wait_for 10 beats_at_least 5
python3 - "$T/requests.jsonl" >"$T/beats.txt" <<'PY'
import json, sys
beats = [json.loads(l) for l in open(sys.argv[1]) if '"/api/runner/heartbeat"' in l]
b = beats[-1]["body"]
print("keys", sorted(b.keys()))
print("version", b["version"])
print("executors", b["supportedExecutors"])
print("active", b["activeJobId"])
print("deliver", b["deliverRestart"])
gaps = [beats[i + 1]["t"] - beats[i]["t"] for i in range(1, len(beats) - 1)]
print("gaps_ok", all(800 <= g <= 1300 for g in gaps), gaps)
PY
check_contains "heartbeat body has exactly the protocol's keys" "keys ['activeJobId', 'deliverRestart', 'supportedExecutors', 'version']" "$T/beats.txt"
check_contains "heartbeat names the runner's executors" "executors ['codex', 'claude']" "$T/beats.txt"
check_contains "idle heartbeats carry activeJobId null" "active None" "$T/beats.txt"
check_contains "timer heartbeats set deliverRestart" "deliver True" "$T/beats.txt"
check_contains "heartbeats keep the configured 1 s interval" "gaps_ok True" "$T/beats.txt"
check_eq "the relay shows the runner Online" online "$(relay runners --json | jsonq "[r['status'] for r in d if r['id']=='$RUNNER_ID'][0].lower()")"
check_not_contains "the bearer never reaches the log" "$bearer" "$T/run.log"
kill -TERM $RUNNER_PID
wait_exit $RUNNER_PID 1
check_eq "SIGTERM when idle exits 0 within a second" 0 "$EXIT"

# A restart request from the dashboard: exit 0 for the service manager.
runner_bg "$T/run2.log" run --heartbeat-interval-ms 1000
wait_for 10 grep -q "connected to relay" "$T/run2.log"
relay restart "$RUNNER_ID" >/dev/null
wait_exit $RUNNER_PID 10
check_eq "a restart request exits 0" 0 "$EXIT"
check_contains "it says why it exits" "upgrade requested" "$T/run2.log"

# Relay down at start, back later: the daemon waits, then heartbeats resume.
relay_stop
runner_bg "$T/run3.log" run --heartbeat-interval-ms 1000
check "the outage is logged" wait_for 20 grep -q 'retrying with backoff' "$T/run3.log"
sleep 2.5 # several retries
check "the daemon stays up while the relay is down" kill -0 $RUNNER_PID
check_eq "the outage is logged once, not once per retry" 1 "$(grep -c 'retrying with backoff' "$T/run3.log")"
before=$(heartbeats)
relay_start || exit 1
check "heartbeats resume when the relay is back" wait_for 15 beats_at_least $((before + 1))
check "the recovery is logged" wait_for 15 grep -q "reachable again" "$T/run3.log"

# SIGHUP with a broken config file keeps the old configuration.
mkdir -p "$XDG_CONFIG_HOME/delego-runner"
printf 'poll-interval-ms: [oops\n' >"$XDG_CONFIG_HOME/delego-runner/config.yaml"
kill -HUP $RUNNER_PID
check "a bad config on SIGHUP is refused" wait_for 5 grep -q "not reloading" "$T/run3.log"
check "the daemon keeps running after a refused reload" kill -0 $RUNNER_PID
printf 'log-level: debug\n' >"$XDG_CONFIG_HOME/delego-runner/config.yaml"
kill -HUP $RUNNER_PID
check "a good config on SIGHUP is applied" wait_for 5 grep -q "configuration reloaded" "$T/run3.log"
rm -f "$XDG_CONFIG_HOME/delego-runner/config.yaml"

# Rotate in the dashboard: exit 2 with a message that says how to recover.
relay rotate "$RUNNER_ID" >/dev/null
wait_exit $RUNNER_PID 10
check_eq "a rotated credential exits 2" 2 "$EXIT"
check_contains "the message tells the user to pair again" "delego-runner pair" "$T/run3.log"
check_contains "the message names the runner" "$RUNNER_ID" "$T/run3.log"
check_contains "the message names the profile" "Profile: default" "$T/run3.log"
check_contains "the message names the relay" "$RELAY_URL" "$T/run3.log"

# Under journald: <N> priority prefixes instead of timestamps.
JOURNAL_STREAM=8:1234 runner run >"$T/run4.log" 2>&1
check_eq "a dead credential at start also exits 2" 2 $?
check_eq "journald lines carry priority prefixes" 0 "$(grep -cv '^<[0-9]>' "$T/run4.log")"
check "the 401 line is logged at priority 3" grep -q '^<3>.*HTTP 401' "$T/run4.log"

# Configuration errors.
runner run --relay-url http://127.0.0.1:1 >"$T/out" 2>&1
check_eq "a relay URL that differs from the profile's is a usage error" 64 $?
check_contains "it explains how to re-pair" "pair again" "$T/out"
runner run --profile other >"$T/out" 2>&1
check_eq "an unpaired profile gives status 78" 78 $?
check_contains "it shows the pairing command" "delego-runner pair --relay-url" "$T/out"

done_testing
