#!/bin/sh
# delego-runner pair: success, every failure with its exit status, the
# credentials file (modes, atomic replace, Node-written files), secrets.
. "$(dirname "$0")/lib.sh"

relay_start || exit 1
CREDS=$XDG_CONFIG_HOME/delego-runner/credentials.json

tok=$(relay pair-token --name "laptop")
runner pair --relay-url "$RELAY_URL/" --pairing-token "$tok" >"$T/out" 2>"$T/err"
check_eq "pair succeeds" 0 $?
id=$(json "$CREDS" "d['profiles']['default']['runnerId']")
check "the runner id is stored" test -n "$id"
check_contains "pair prints the runner id" "$id" "$T/out"
check_contains "pair prints how to start the daemon" "delego-runner run" "$T/out"
check_eq "relay URL stored without trailing slash" "$RELAY_URL" "$(json "$CREDS" "d['profiles']['default']['relayUrl']")"
check_eq "credentials file is 0600" 600 "$(stat -c %a "$CREDS")"
check_eq "credentials directory is 0700" 700 "$(stat -c %a "$(dirname "$CREDS")")"
check_eq "pairedAt is ISO-8601" true "$(json "$CREDS" "bool(__import__('re').match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d', d['profiles']['default']['pairedAt']))")"
check_not_contains "the token is not printed" "$tok" "$T/err"
bearer=$(json "$CREDS" "d['profiles']['default']['bearer']")
check_not_contains "the bearer is not printed" "$bearer" "$T/out"
check_eq "no temporary file left" 1 "$(ls -A "$(dirname "$CREDS")" | wc -l)"
check_eq "the relay shows the runner" "$id" "$(relay runners --json | jsonq "[r['id'] for r in d if r['id']=='$id'][0]")"
# Claude refuses to run as root: pair and run say so at once, not only doctor.
timeout 60 $DR_VG "$RUNNER_BIN" run --once >"$T/run.log" 2>&1
timeout 60 $DR_VG "$RUNNER_BIN" run --once --supported-executors codex >"$T/run-codex.log" 2>&1
if [ "$(id -u)" -eq 0 ]; then
	check_contains "as root, pair says claude refuses root" "running as root: claude refuses --dangerously-skip-permissions" "$T/err"
	check_contains "and run says it at start" "running as root: claude refuses --dangerously-skip-permissions" "$T/run.log"
	check_contains "with the fix" "run the runner as an ordinary user" "$T/run.log"
else
	check_not_contains "not root: pair says nothing of root" "running as root" "$T/err"
	check_not_contains "nor run" "running as root" "$T/run.log"
fi
check_not_contains "without claude, run says nothing of root" "running as root" "$T/run-codex.log"

runner pair --relay-url "$RELAY_URL" --pairing-token "$tok" >"$T/out" 2>"$T/err"
check_eq "a used token is rejected with status 2" 2 $?
check_contains "it says the token was used or expired" "expired or already used" "$T/err"

old=$(DELEGO_RELAY_CLOCK_OFFSET_MS=-960000 relay pair-token)
runner pair --relay-url "$RELAY_URL" --pairing-token "$old" >"$T/out" 2>"$T/err"
check_eq "a token older than 15 minutes is rejected with status 2" 2 $?

runner pair --relay-url "$RELAY_URL" --pairing-token "nope_123" 2>"$T/err"
check_eq "a token without drs_pair_ is a usage error" 64 $?
check_contains "it says what a token looks like" "must start with drs_pair_" "$T/err"
runner pair --relay-url "$RELAY_URL" --pairing-token drs_pair_x --profile Bad_Name 2>"$T/err"
check_eq "a bad profile name is a usage error" 64 $?
runner pair --relay-url "ftp://x" --pairing-token drs_pair_x 2>"$T/err"
check_eq "a non-http URL is a usage error" 64 $?
runner pair --relay-url "http://relay.example.com" --pairing-token drs_pair_x 2>"$T/err"
check_eq "plain http to a remote relay is refused" 64 $?
check_contains "it explains --allow-insecure-relay" "--allow-insecure-relay" "$T/err"
runner pair --relay-url "http://127.0.0.1:9" --pairing-token drs_pair_x 2>"$T/err"
check_eq "an unreachable relay gives status 69" 69 $?
check_contains "it names the relay" "127.0.0.1:9" "$T/err"
runner pair --pairing-token drs_pair_x 2>"$T/err"
check_eq "pair without --relay-url is a usage error" 64 $?

# Broken relays.
python3 "$FIXTURES/fake-relays/canned.py" "$T/canned.url" serve 200 '{"runner": {}}' &
track_pid $!
wait_for 10 test -s "$T/canned.url"
runner pair --relay-url "$(cat "$T/canned.url")" --pairing-token drs_pair_x 2>"$T/err"
check_eq "an answer without runner.id or bearer gives status 76" 76 $?
check_contains "it says the answer was unexpected" "unexpected answer" "$T/err"
python3 "$FIXTURES/fake-relays/canned.py" "$T/c500.url" serve 503 '{"error": "maintenance"}' &
track_pid $!
wait_for 10 test -s "$T/c500.url"
runner pair --relay-url "$(cat "$T/c500.url")" --pairing-token drs_pair_x 2>"$T/err"
check_eq "a 503 gives status 75 (try again)" 75 $?
check_contains "the relay's error text is shown" "maintenance" "$T/err"

# Pairing over the profile warns about the orphan, unless --force.
tok2=$(relay pair-token)
runner pair --relay-url "$RELAY_URL" --pairing-token "$tok2" >"$T/out" 2>"$T/err"
check_eq "re-pairing the profile succeeds" 0 $?
check_contains "re-pairing warns about the orphaned runner" "$id" "$T/err"
tok3=$(relay pair-token)
runner pair --relay-url "$RELAY_URL" --pairing-token "$tok3" --force >"$T/out" 2>"$T/err"
check_not_contains "--force silences the warning" "orphaned" "$T/err"

# A Node-written file with another profile and unknown fields.
cat >"$CREDS" <<JSON
{
  "version": 1,
  "profiles": {
    "default": {"relayUrl": "https://relay.example.com", "runnerId": "node_runner", "bearer": "nb", "pairedAt": "2026-01-01T00:00:00.000Z", "extra": 1}
  },
  "somethingNew": {"a": [1]}
}
JSON
chmod 644 "$CREDS"
tok4=$(relay pair-token)
printf '%s\n' "$tok4" | runner pair --relay-url "$RELAY_URL" --pairing-token - --profile work \
	--workspace-root "$T/ws" --supported-executors claude >"$T/out" 2>"$T/err"
check_eq "pairing from standard input works" 0 $?
check_contains "a readable credentials file is warned about" "chmod 600" "$T/err"
check_eq "the Node profile is kept" node_runner "$(json "$CREDS" "d['profiles']['default']['runnerId']")"
check_eq "unknown fields are kept" 1 "$(json "$CREDS" "d['profiles']['default']['extra']")"
check_eq "unknown top-level fields are kept" '{"a": [1]}' "$(json "$CREDS" "d['somethingNew']")"
check_eq "the workspace root is recorded" "$T/ws" "$(json "$CREDS" "d['profiles']['work']['workspaceRoot']")"
check_eq "the executors are recorded" '["claude"]' "$(json "$CREDS" "d['profiles']['work']['supportedExecutors']")"
check_eq "the rewritten file is 0600" 600 "$(stat -c %a "$CREDS")"

tok5=$(relay pair-token)
printf '%s\n' "$tok5" >"$T/token.txt"
runner pair --relay-url "$RELAY_URL" --pairing-token-file "$T/token.txt" --profile file >"$T/out" 2>"$T/err"
check_eq "pairing from a token file works" 0 $?

# The token must not be visible in the process list while pairing runs.
python3 "$FIXTURES/fake-relays/canned.py" "$T/hang.url" hang &
track_pid $!
wait_for 10 test -s "$T/hang.url"
"$RUNNER_BIN" pair --relay-url "$(cat "$T/hang.url")" --pairing-token drs_pair_SECRETVALUE123 >/dev/null 2>&1 &
p=$!
track_pid $p
sleep 0.3
tr '\0' ' ' </proc/$p/cmdline >"$T/cmdline"
check_not_contains "the token is blanked in the process's argv" SECRETVALUE123 "$T/cmdline"
kill $p 2>/dev/null

done_testing
