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
runner_bg "$T/run.log" run --git-clone-base-url "$T/remotes" --poll-interval-ms 1000 --heartbeat-interval-ms 1000
wait_for 10 grep -q "connected to relay" "$T/run.log"
kill -HUP $RUNNER_PID
check "the reload is applied" wait_for 5 grep -q "configuration reloaded" "$T/run.log"
id=$(relay job add --repo acme/app --executor claude --identifier ENG-1 --prompt "scenario=edit")
check "the job after the reload completes" wait_for 30 status_is "$id" completed
check "its worktree is under the paired workspace root" test -d "$W/worktrees/acme/app/$id"
kill -TERM $RUNNER_PID
wait_exit $RUNNER_PID 10
check_eq "the runner exits 0" 0 "$EXIT"

done_testing
