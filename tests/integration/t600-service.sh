#!/bin/sh
# service install, start/stop/restart/upgrade, status, uninstall/remove/clear
# against a real relay, with a stand-in `systemctl` first on PATH that
# records its argv (there is no systemd user session here).
. "$(dirname "$0")/lib.sh"

relay_start || exit 1
pair_runner || { not_ok "pairing for the service tests"; done_testing; exit 1; }
CREDS=$XDG_CONFIG_HOME/delego-runner/credentials.json
UNIT_DIR=$XDG_CONFIG_HOME/systemd/user
UNIT=$UNIT_DIR/delego-runner-default.service
LOG=$T/systemctl.log

mkdir -p "$T/bin"
cat >"$T/bin/systemctl" <<'EOF'
#!/bin/sh
echo "$*" >>"$SYSTEMCTL_LOG"
case " $* " in *" ${FAKE_FAIL:-@none@} "*) echo "Failed to $FAKE_FAIL unit: Unit is masked." >&2; exit 1 ;; esac
case " $* " in
*" show "*) printf 'ActiveState=%s\nSubState=%s\nUnitFileState=enabled\nMainPID=0\nExecMainStatus=0\n' \
	"${FAKE_ACTIVE:-active}" "${FAKE_SUB:-running}" ;;
esac
exit 0
EOF
chmod +x "$T/bin/systemctl"
export PATH="$T/bin:$PATH" SYSTEMCTL_LOG=$LOG

# --- install -------------------------------------------------------------
runner service install >"$T/out" 2>"$T/err"
check_eq "service install succeeds" 0 $?
check "the unit file is written" test -f "$UNIT"
check_contains "the unit starts our binary by its absolute path, not a shell" \
	"ExecStart=$RUNNER_BIN run --profile default" "$UNIT"
check_not_contains "no shell in ExecStart" "/bin/sh" "$UNIT"
check_contains "the unit is Type=notify" "Type=notify" "$UNIT"
check_contains "revoked, usage and config exits do not restart" "RestartPreventExitStatus=2 64 78" "$UNIT"
check_contains "the unit carries the credentials path used" "DELEGO_CREDENTIALS_PATH=$CREDS" "$UNIT"
check_contains "the unit carries the state home used" "XDG_STATE_HOME=$XDG_STATE_HOME\"" "$UNIT"
check_eq "systemctl: daemon-reload, enable, restart" \
	"--user daemon-reload|--user enable delego-runner-default.service|--user restart --no-block delego-runner-default.service" \
	"$(grep -v ' show ' "$LOG" | paste -sd'|')"
check_contains "install says what it did" "Installed and started the service for profile default" "$T/out"
check_contains "install shows the state it reached" "state:   active (running)" "$T/out"
check_contains "install says where the logs are" "journalctl --user -u delego-runner-default.service" "$T/out"

# Options from flags and DELEGO_* variables are kept; one-shot ones are not.
: >"$LOG"
DELEGO_MAX_JOBS=2 runner service install --poll-interval-ms 5000 --workspace-root "$T/my work" --force \
	>"$T/out" 2>"$T/err"
check_eq "a second install succeeds" 0 $?
check_contains "it says the unit was updated" "Updated and restarted" "$T/out"
check_contains "flags and environment are baked into ExecStart" \
	"run --profile default \"--workspace-root=$T/my work\" --poll-interval-ms=5000 --max-jobs=2" "$UNIT"
check_not_contains "--force is not kept" "--force" "$UNIT"
check "the restart is asked for again" grep -q "restart --no-block" "$LOG"

# A unit not written by us is left alone without --force.
cp "$UNIT" "$T/ours.service"
printf '[Service]\nExecStart=/bin/true\n' >"$UNIT"
runner service install >"$T/out" 2>"$T/err"
check_eq "a foreign unit is not replaced (73)" 73 $?
check_contains "it says how to replace it" "--force" "$T/err"
check_contains "the foreign unit is intact" "ExecStart=/bin/true" "$UNIT"
runner service install --force >"$T/out" 2>"$T/err"
check_eq "--force replaces it" 0 $?

# --dry-run changes nothing.
: >"$LOG"
cp "$UNIT" "$T/before.service"
runner service install --dry-run --max-jobs 3 >"$T/out" 2>"$T/err"
check_eq "--dry-run succeeds" 0 $?
check_contains "--dry-run prints the unit" "--max-jobs=3" "$T/out"
check "--dry-run leaves the unit alone" cmp -s "$UNIT" "$T/before.service"
check_eq "--dry-run runs no systemctl" 0 "$(wc -l <"$LOG")"

runner service install --profile nope >"$T/out" 2>"$T/err"
check_eq "installing an unpaired profile is a config error (78)" 78 $?
check_contains "it says how to pair" "printf '%s' drs_pair_... | delego-runner pair --relay-url URL --pairing-token - --profile nope" "$T/err"
runner service frobnicate 2>"$T/err"
check_eq "an unknown service subcommand is a usage error" 64 $?

FAKE_FAIL=enable runner service install >"$T/out" 2>"$T/err"
check_eq "a failing systemctl fails the install (1)" 1 $?
check_contains "it shows systemctl's message" "Unit is masked" "$T/err"
check_contains "it says how to start it by hand" "systemctl --user enable --now delego-runner-default.service" "$T/err"

# --- start / stop / restart / upgrade -----------------------------------
runner service install >/dev/null 2>&1
: >"$LOG"
runner stop >"$T/out" 2>"$T/err"
check_eq "stop succeeds" 0 $?
check_contains "stop names the profile" "stopped default" "$T/out"
check_contains "stop runs systemctl stop and waits" "--user stop delego-runner-default.service" "$LOG"
runner start >"$T/out" 2>&1
check_contains "start runs systemctl start" "--user start --no-block delego-runner-default.service" "$LOG"
runner restart >"$T/out" 2>&1
check_contains "restart runs systemctl restart" "--user restart --no-block delego-runner-default.service" "$LOG"
: >"$LOG"
runner upgrade >"$T/out" 2>&1
check_eq "upgrade succeeds" 0 $?
check_contains "upgrade restarts" "--user restart --no-block delego-runner-default.service" "$LOG"
check_contains "upgrade says the package manager upgrades" "Upgrade the package first" "$T/out"
runner stop --profile ghost >"$T/out" 2>"$T/err"
check_eq "stop of a profile without a service fails" 1 $?
check_contains "it says how to install it" "service install --profile ghost" "$T/err"

# --- status against a real daemon ------------------------------------
runner_bg "$T/run.log" run --heartbeat-interval-ms 1000 --poll-interval-ms 1000
STATE=$XDG_STATE_HOME/delego-runner/default
beat_ok() { [ "$(json "$STATE/status.json" "d.get('lastHeartbeatOk')")" = true ]; }
check "the daemon writes a status file with a good heartbeat" wait_for 15 beat_ok
runner status --json >"$T/status.json" 2>"$T/err"
check_eq "status --json succeeds" 0 $?
check_eq "status shows the runner id" "$RUNNER_ID" "$(json "$T/status.json" "d['profiles'][0]['runnerId']")"
check_eq "status shows the relay" "$RELAY_URL" "$(json "$T/status.json" "d['profiles'][0]['relayUrl']")"
check_eq "status shows the service state" active "$(json "$T/status.json" "d['profiles'][0]['service']['activeState']")"
check_eq "status sees the daemon running" true "$(json "$T/status.json" "d['profiles'][0]['daemon']['running']")"
check_eq "status shows the daemon's pid" "$RUNNER_PID" "$(json "$T/status.json" "int(d['profiles'][0]['daemon']['pid'])")"
check_eq "status shows the last heartbeat ok" true "$(json "$T/status.json" "d['profiles'][0]['lastHeartbeatOk']")"
check_eq "status shows no active job" "[]" "$(json "$T/status.json" "d['profiles'][0]['activeJobs']")"
runner status >"$T/out" 2>"$T/err"
check_contains "status text: heartbeat ok" "heartbeat:  ok at " "$T/out"
check_contains "status text: daemon running" "daemon:     running, pid $RUNNER_PID" "$T/out"
check_contains "status text: service" "service:    delego-runner-default.service active (running), enabled" "$T/out"
kill -TERM "$RUNNER_PID"
for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$RUNNER_PID" 2>/dev/null || break; sleep 0.2; done
mkdir -p "$STATE/outbox"
echo '{}' >"$STATE/outbox/0001.json"; echo '{}' >"$STATE/outbox/0002.json"
runner status --json >"$T/status.json" 2>"$T/err"
check_eq "a stale status file is seen as a stopped daemon" false "$(json "$T/status.json" "d['profiles'][0]['daemon']['running']")"
check_eq "pending reports are counted from the outbox" 2 "$(json "$T/status.json" "int(d['profiles'][0]['pendingReports'])")"
runner status >"$T/out" 2>&1
check_contains "status text: stopped daemon" "daemon:     not running (last seen as pid" "$T/out"
check_contains "status text: pending reports" "pending:    2 report(s)" "$T/out"
FAKE_ACTIVE=failed FAKE_SUB=failed runner status >"$T/out" 2>&1
check_contains "status shows the failed state" "delego-runner-default.service failed (failed)" "$T/out"
rm -rf "$STATE/outbox"

# --- uninstall ---------------------------------------------------------
runner uninstall >"$T/out" 2>"$T/err"
check_eq "uninstall without --yes is a usage error (64)" 64 $?
check_contains "it says it would revoke the runner" "revoke runner $RUNNER_ID" "$T/err"
check_contains "it says how to confirm" "delego-runner uninstall --yes" "$T/err"
check "nothing was removed" test -f "$UNIT"
check_eq "the profile is still there" "$RUNNER_ID" "$(json "$CREDS" "d['profiles']['default']['runnerId']")"

# A second profile that must survive the uninstall of the first.
tok=$(relay pair-token --name second)
runner pair --relay-url "$RELAY_URL" --pairing-token "$tok" --profile second >/dev/null 2>&1
SECOND=$(json "$CREDS" "d['profiles']['second']['runnerId']")

FAKE_FAIL=stop runner uninstall --yes >"$T/out" 2>"$T/err"
check_eq "uninstall stops when the service cannot be stopped" 1 $?
check_contains "it says nothing was changed" "Nothing was changed" "$T/err"
check_eq "the profile is kept then" "$RUNNER_ID" "$(json "$CREDS" "d['profiles']['default']['runnerId']")"

: >"$LOG"
runner uninstall --yes >"$T/out" 2>"$T/err"
check_eq "uninstall --yes succeeds" 0 $?
check_eq "systemctl: stop, disable, daemon-reload" \
	"--user stop delego-runner-default.service|--user disable delego-runner-default.service|--user daemon-reload" \
	"$(paste -sd'|' "$LOG")"
check "the unit file is gone" test ! -e "$UNIT"
check_eq "the profile is gone" false "$(json "$CREDS" "'default' in d['profiles']")"
check_eq "the other profile is kept" "$SECOND" "$(json "$CREDS" "d['profiles']['second']['runnerId']")"
check_contains "it says the runner was revoked" "revoked runner $RUNNER_ID" "$T/out"
check_eq "the relay shows the runner revoked" revoked \
	"$(relay runners --json | jsonq "[r['status'] for r in d if r['id']=='$RUNNER_ID'][0].lower()")"
check_eq "the credentials file stays 0600" 600 "$(stat -c %a "$CREDS")"

# remove: the same, relay down: best effort, the local cleanup still happens.
relay_stop
runner remove --yes --profile second >"$T/out" 2>"$T/err"
check_eq "remove with the relay down still succeeds" 0 $?
check_contains "it warns the runner must be removed in the dashboard" "Runners panel" "$T/err"
check_eq "the profile is gone" "{}" "$(json "$CREDS" "d['profiles']")"

# clear: every profile.
relay_start || exit 1
pair_runner
tok=$(relay pair-token --name third)
runner pair --relay-url "$RELAY_URL" --pairing-token "$tok" --profile third >/dev/null 2>&1
runner service install --profile third >/dev/null 2>&1
THIRD=$(json "$CREDS" "d['profiles']['third']['runnerId']")
runner clear >"$T/out" 2>"$T/err"
check_eq "clear without --yes is a usage error" 64 $?
check_contains "clear lists every profile" "third: stop, disable and delete the service delego-runner-third.service" "$T/err"
runner clear --yes >"$T/out" 2>"$T/err"
check_eq "clear --yes succeeds" 0 $?
check_contains "clear says how many" "cleared 2 profile(s)" "$T/out"
check_eq "no profile is left" "{}" "$(json "$CREDS" "d['profiles']")"
check "the third unit is gone" test ! -e "$UNIT_DIR/delego-runner-third.service"
check_eq "both runners are revoked on the relay" "revoked revoked" \
	"$(relay runners --json | jsonq "' '.join(r['status'].lower() for r in d if r['id'] in ('$RUNNER_ID', '$THIRD'))")"
runner status >"$T/out" 2>&1
check_contains "status with no profile says how to pair" "No paired runner profiles" "$T/out"

done_testing
