#!/bin/sh
# The order of the runner's requests, as the relay sees it: the beat that
# says "idle" comes after the job's terminal report was answered (in --once
# and in the daemon); the start-up beat is answered before the first poll,
# so that a restart it asks for wins over claiming a job.
. "$(dirname "$0")/lib.sh"
CREDS=$XDG_CONFIG_HOME/delego-runner/credentials.json

start_fake() {
	printf '%s\n' "$1" >"$T/script.json"
	rm -f "$T/fake.url" "$T/fake.log"
	python3 "$FIXTURES/fake-relays/scripted.py" "$T/fake.url" "$T/script.json" "$T/fake.log" &
	FAKE_PID=$!
	track_pid $FAKE_PID
	wait_for 10 test -s "$T/fake.url"
	mkdir -p "$(dirname "$CREDS")"
	printf '{"version":1,"profiles":{"default":{"relayUrl":"%s","runnerId":"r1","bearer":"bearer-123456","pairedAt":"x"}}}\n' \
		"$(cat "$T/fake.url")" >"$CREDS"
	chmod 600 "$CREDS"
}
stop_fake() { kill "$FAKE_PID" 2>/dev/null; wait "$FAKE_PID" 2>/dev/null; }
# order: how the idle beat relates to the fail report: "after-answer", "before-answer" or "none".
order() {
	python3 - "$T/fake.log" <<'PY'
import json, sys
ls = [json.loads(l) for l in open(sys.argv[1])]
fail = [l for l in ls if l["path"] == "/api/runner/jobs/fail"]
idle = [l for l in ls if l["path"] == "/api/runner/heartbeat" and l is not ls[0]
        and json.loads(l["body"]).get("activeJobId") is None]
if not fail or not idle:
    print("none")
else:
    # The fail report is answered 1.5 s after it arrives.
    print("after-answer" if idle[0]["t"] >= fail[0]["t"] + 1.4 else "before-answer")
PY
}
has_idle_beat() { test "$(order)" != none; }
polls() { grep -c '"/api/runner/jobs/poll"' "$T/fake.log" 2>/dev/null || true; }

# A job that fails at once (its slug is unusable); the relay takes 1.5 s to answer the report.
job='{"id": "job-1", "organizationId": "org", "agentSessionId": "s", "attemptId": "a",
      "repositorySlug": "../x", "executionPreferences": {"executor": "claude"}}'
script='{"/api/runner/jobs/poll": [[200, {"job": '"$job"'}], [200, {"job": null}]],
         "/api/runner/jobs/fail": [[200, {}, 1.5]]}'

# 1. --once
start_fake "$script"
runner run --once --workspace-root "$T/ws" >"$T/run1.log" 2>&1
check_eq "--once exits 0" 0 $?
check_eq "--once: the idle beat waits for the fail report's answer" after-answer "$(order)"
stop_fake

# 2. the daemon
start_fake "$script"
runner_bg "$T/run2.log" run --workspace-root "$T/ws" --heartbeat-interval-ms 60000 --poll-interval-ms 60000
wait_for 20 has_idle_beat
check_eq "daemon: the idle beat waits for the fail report's answer" after-answer "$(order)"
kill -TERM $RUNNER_PID
wait_exit $RUNNER_PID 10
check_eq "the daemon exits 0 on SIGTERM" 0 "$EXIT"
stop_fake

# 3. A restart asked for in the answer to the start-up beat wins over a job on offer.
start_fake '{"/api/runner/heartbeat": [[200, {"restart": true}, 0.5], [200, {}]],
             "/api/runner/jobs/poll": [[200, {"job": '"$job"'}], [200, {"job": null}]]}'
runner_bg "$T/run3.log" run --workspace-root "$T/ws" --heartbeat-interval-ms 60000
wait_exit $RUNNER_PID 15
check_eq "the runner exits 0 for the restart" 0 "$EXIT"
check_contains "it says why" "upgrade requested" "$T/run3.log"
check_eq "no poll went out before the start-up beat was answered" 0 "$(polls)"
check_not_contains "no job was claimed" "claimed job" "$T/run3.log"
stop_fake

done_testing
