#!/bin/sh
# SIGHUP keeps what the profile recorded at pairing: a workspace root given
# to `pair` still holds after a reload; `config` shows it as from the profile.
. "$(dirname "$0")/lib.sh"
export PATH="$FIXTURES/bin:$PATH"
W=$T/paired-ws
UP=$T/remotes/acme/app.git
relay_start || exit 1
pair_runner --workspace-root "$W" || { not_ok "pairing"; done_testing; exit 1; }
git init -q --bare -b main "$UP"
git init -q -b main "$T/seed"
(cd "$T/seed" && echo hello > README.md && git add . && git commit -q -m initial && git push -q "$UP" main)

runner config >"$T/config.txt"
check "config shows the profile's workspace root" grep -q "^workspace-root .*$W .*(profile)" "$T/config.txt"

status_is() { test "$(relay job show "$1" --json | jsonq "d['status']")" = "$2"; }
runner_bg "$T/run.log" run --git-clone-base-url "$T/remotes" --poll-interval-ms 1000 --heartbeat-interval-ms 1000 \
	--log-level debug
wait_for 10 grep -q "connected to relay" "$T/run.log"
kill -HUP $RUNNER_PID
check "the reload is applied" wait_for 5 grep -q "configuration reloaded" "$T/run.log"
id=$(relay job add --repo acme/app --executor claude --identifier ENG-1 --prompt "scenario=edit")
check "the job after the reload completes" wait_for 30 status_is "$id" completed
check "its worktree is under the paired workspace root" test -d "$W/worktrees/acme/app/$id"

# A secret that a reload brings (an --agent-env value in the file) is masked like one given at start.
mkdir -p "$XDG_CONFIG_HOME/delego-runner"
printf 'agent-env:\n  - MY_API_KEY=sk-set-on-reload-SECRETVALUE\n' >"$XDG_CONFIG_HOME/delego-runner/config.yaml"
kill -HUP $RUNNER_PID
check "the second reload is applied" wait_for 5 sh -c "test \$(grep -c 'configuration reloaded' '$T/run.log') -ge 2"
id=$(relay job add --repo acme/app --executor claude --identifier ENG-2 --prompt "scenario=leak-env var=MY_API_KEY")
check "the job that repeats the new key completes" wait_for 30 status_is "$id" completed
relay job show "$id" --json >"$T/job2.json"
# Masked, not missing: without the key the reply would be "My MY_API_KEY is ."
check_contains "the key reached the agent and is masked in its reply" "My MY_API_KEY is [redacted]." "$T/job2.json"
check_not_contains "and in nothing the relay got" "SECRETVALUE" "$T/requests.jsonl"
check_not_contains "nor in the runner's log (debug)" "SECRETVALUE" "$T/run.log"
kill -TERM $RUNNER_PID
wait_exit $RUNNER_PID 10
check_eq "the runner exits 0" 0 "$EXIT"

done_testing
