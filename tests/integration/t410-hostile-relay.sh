#!/bin/sh
# A relay that answers with garbage: the daemon logs, retries, never crashes,
# never exits for it; bad jobs are failed with a report that says why.
. "$(dirname "$0")/lib.sh"
export PATH="$FIXTURES/bin:$PATH"
CREDS=$XDG_CONFIG_HOME/delego-runner/credentials.json

# start_fake SCRIPT_JSON: a scripted relay; pairs the default profile to it.
start_fake() {
	printf '%s\n' "$1" >"$T/script.json"
	rm -f "$T/fake.url" "$T/fake.log"
	python3 "$FIXTURES/fake-relays/scripted.py" "$T/fake.url" "$T/script.json" "$T/fake.log" &
	FAKE_PID=$!
	track_pid $FAKE_PID
	wait_for 10 test -s "$T/fake.url"
	FAKE_URL=$(cat "$T/fake.url")
	mkdir -p "$(dirname "$CREDS")"
	printf '{"version":1,"profiles":{"default":{"relayUrl":"%s","runnerId":"r1","bearer":"bearer-123456","pairedAt":"x"}}}\n' \
		"$FAKE_URL" >"$CREDS"
	chmod 600 "$CREDS"
}
stop_fake() { kill "$FAKE_PID" 2>/dev/null; wait "$FAKE_PID" 2>/dev/null; }
polls() { grep -c '"/api/runner/jobs/poll"' "$T/fake.log" 2>/dev/null || true; }
polls_at_least() { test "$(polls)" -ge "$1"; }
reports() { grep '"/api/runner/jobs/fail"' "$T/fake.log" 2>/dev/null; }
has_fail_report() { test -n "$(reports)"; }

# 1. Every kind of garbage answer to heartbeat and poll.
deep=$(python3 -c 'print("[" * 5000)')
start_fake '{
 "/api/runner/heartbeat": [[200, "not json"], [200, "[1,2,3]"], [500, "<html>oops</html>"], [200, {"runner": "x", "restart": "yes"}], [200, {}]],
 "/api/runner/jobs/poll": [[200, "{\"job\": "], [200, {"job": "a string"}], [200, {"job": 42}], [200, "'"$deep"'"],
                           [429, {"error": "slow down"}], [0, ""], [200, {"job": null, "reason": "empty"}]]
}'
runner_bg "$T/run1.log" run --heartbeat-interval-ms 1000 --poll-interval-ms 1000 --log-level debug
check "the runner keeps polling through garbage answers" wait_for 30 polls_at_least 8
check "it is still running" kill -0 $RUNNER_PID
check_contains "a non-object job is ignored with a warning" "job that is not an object" "$T/run1.log"
check_contains "a non-JSON answer is logged" "not a JSON object" "$T/run1.log"
check_not_contains "the bearer never reaches the log" "bearer-123456" "$T/run1.log"
kill -TERM $RUNNER_PID
wait_exit $RUNNER_PID 5
check_eq "it still exits 0 on SIGTERM" 0 "$EXIT"
stop_fake

# 2. Hostile job objects: each is failed with a report that says what was wrong, and nothing is written.
job='{"id": "job-1", "organizationId": "org", "agentSessionId": "s", "attemptId": "a",
      "repositorySlug": "../../etc/passwd", "executionPreferences": {"executor": "claude"}}'
start_fake '{"/api/runner/jobs/poll": [[200, {"job": '"$job"'}], [200, {"job": null}]]}'
runner run --once --workspace-root "$T/ws" >"$T/run2.log" 2>&1
check_eq "a hostile job does not stop --once from exiting 0" 0 $?
check "it is reported as failed" has_fail_report
reports | python3 -c 'import json,sys; r=json.loads(json.loads(sys.stdin.readline())["body"]); print(r["jobId"], "|", r["summary"])' >"$T/fail.txt"
check_contains "the report names the job" "job-1 |" "$T/fail.txt"
check_contains "the report says the slug is wrong" "repositorySlug" "$T/fail.txt"
check "nothing is written in the workspace" test ! -e "$T/ws/sources"
stop_fake

# fail_of: "<jobId> | <summary>" of the first fail report.
fail_of() { reports | python3 -c 'import json,sys; r=json.loads(json.loads(sys.stdin.readline())["body"]); print(r["jobId"], "|", r["summary"])'; }

# 3. A job whose id is unusable as a file name is still claimed: it is failed, the id only in the JSON body.
start_fake '{"/api/runner/jobs/poll": [[200, {"job": {"id": "../../x y", "organizationId": "org"}}], [200, {"job": null}]]}'
runner run --once --workspace-root "$T/ws" >"$T/run3.log" 2>&1
check_eq "a job with an unusable id does not stop --once from exiting 0" 0 $?
check "it is reported as failed" has_fail_report
fail_of >"$T/fail3.txt"
check_contains "the report carries the id as given" "../../x y |" "$T/fail3.txt"
check_contains "and says what is wrong with it" "job id is not valid" "$T/fail3.txt"
check "no file is named after it" test -z "$(find "$XDG_STATE_HOME" "$T/ws" -name '*x y*' 2>/dev/null)"
stop_fake

# 3b. A poll answer nested one level deeper than our limit (64) still gets its job failed.
deep_job=$(python3 -c 'print("{\"job\": {\"id\": \"job-3\", \"organizationId\": \"org\", \"x\": " + "[" * 63 + "]" * 63 + "}}")')
start_fake '{"/api/runner/jobs/poll": [[200, "'"$(printf '%s' "$deep_job" | sed 's/"/\\"/g')"'"], [200, {"job": null}]]}'
runner run --once --workspace-root "$T/ws" >"$T/run3b.log" 2>&1
check "a job in a too-deep answer is reported as failed" has_fail_report
fail_of >"$T/fail3b.txt"
check_contains "the report names it and says why" "job-3 | Invalid job: the relay's answer nests deeper than 64" "$T/fail3b.txt"
stop_fake

big=$(python3 -c 'print("x" * 300000)')
start_fake '{"/api/runner/jobs/poll": [[200, {"job": {"id": "job-2", "organizationId": "org", "repositorySlug": "acme/app", "promptSummary": "'"$big"'", "executionPreferences": {"executor": "gemini"}}}], [200, {"job": null}]]}'
runner run --once --workspace-root "$T/ws" >"$T/run4.log" 2>&1
check_eq "an oversized job is failed, --once exits 0" 0 $?
check "it is reported as failed" has_fail_report
stop_fake

done_testing
