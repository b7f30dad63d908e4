#!/bin/sh
# systemd-analyze verify on every unit: the per-user unit as `service
# install` writes it (from a binary in an awkward directory), and the
# system-wide delego-runner@.service with ExecStart pointed at the built
# binary; sysusers.d and tmpfiles.d snippets applied to a scratch root.
. "$(dirname "$0")/lib.sh"

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "# SKIP: systemd-analyze not installed (apt-get install systemd)"
	done_testing
	exit 0
fi

# Documentation=man:... is checked when man is there: show it our pages.
man_opt=--man=no
if command -v man >/dev/null 2>&1; then
	for s in 1 5 8; do mkdir -p "$T/man/man$s"; cp "$TOP"/man/*.$s "$T/man/man$s/" 2>/dev/null; done
	export MANPATH=$T/man
	man_opt=--man=yes
fi
export XDG_RUNTIME_DIR=$T/run
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

# The per-user unit, written by the real command from a directory whose
# name needs every escape (space, %, $).
ODD="$T/odd dir %a \$b"
mkdir -p "$ODD" "$T/bin"
cp "$RUNNER_BIN" "$ODD/delego-runner"
printf '#!/bin/sh\nexit 0\n' >"$T/bin/systemctl"
chmod +x "$T/bin/systemctl"
mkdir -p "$XDG_CONFIG_HOME/delego-runner"
printf '{"version":1,"profiles":{"odd-1":{"relayUrl":"http://127.0.0.1:1","runnerId":"r-1","bearer":"b","pairedAt":"2025-01-01T00:00:00Z"}}}' \
	>"$XDG_CONFIG_HOME/delego-runner/credentials.json"
chmod 600 "$XDG_CONFIG_HOME/delego-runner/credentials.json"
PATH="$T/bin:$PATH" "$ODD/delego-runner" service install --profile odd-1 --workspace-root "$HOME/w %h \$HOME" \
	>"$T/out" 2>&1
check_eq "service install from an awkward directory succeeds" 0 $?
UNIT=$XDG_CONFIG_HOME/systemd/user/delego-runner-odd-1.service
systemd-analyze --user verify $man_opt "$UNIT" >"$T/verify.out" 2>&1
check_eq "systemd-analyze --user verify passes on the per-user unit" 0 $?
check_contains "the per-user unit reloads with SIGHUP" 'ExecReload=/bin/kill -HUP $MAINPID' "$UNIT"
check_contains "  keeps the agents across a crash" "KillMode=process" "$UNIT"
check_contains "  and ends them after a stop" "__stop-post" "$UNIT"
check_eq "  with no complaint" "" "$(cat "$T/verify.out")"
systemd-analyze verify $man_opt "$UNIT" >"$T/verify.out" 2>&1
check_eq "systemd-analyze verify (system manager) passes too" 0 $?

# The check can fail: the same unit with a program that is not there.
mkdir -p "$T/broken"
sed 's|odd dir|odd dir-missing|' "$UNIT" >"$T/broken/delego-runner-odd-1.service"
systemd-analyze --user verify --man=no "$T/broken/delego-runner-odd-1.service" >"$T/verify.out" 2>&1
check "verify rejects a unit whose program is missing" test $? -ne 0

# The system-wide template, instantiated by verify, with ExecStart on the built binary.
mkdir -p "$T/system"
sed "s|/usr/bin/delego-runner|$RUNNER_BIN|" "$TOP/systemd/delego-runner@.service" >"$T/system/delego-runner@.service"
check "the rendered copy points at the built binary" grep -q "ExecStart=$RUNNER_BIN run --profile %i" \
	"$T/system/delego-runner@.service"
(cd "$T/system" && systemd-analyze verify $man_opt ./delego-runner@.service) >"$T/verify.out" 2>&1
check_eq "systemd-analyze verify passes on delego-runner@.service" 0 $?
check_eq "  with no complaint" "" "$(cat "$T/verify.out")"
U=$TOP/systemd/delego-runner@.service
for want in "Type=notify" "NotifyAccess=main" "User=delego-runner" \
	"--config /etc/delego-runner/config.yaml" "NoNewPrivileges=yes" "ProtectSystem=strict" \
	"ReadWritePaths=/var/lib/delego-runner" "StateDirectory=delego-runner" "PrivateTmp=yes" \
	"ProtectHome=yes" "RestartPreventExitStatus=2 64 78" "KillMode=process" \
	"ExecReload=/bin/kill -HUP \$MAINPID" "ExecStopPost=/usr/bin/delego-runner __stop-post"; do
	check_contains "system unit has $want" "$want" "$U"
done
stop=$(sed -n 's/^TimeoutStopSec=//p' "$U")
check "TimeoutStopSec ($stop s) is above the 60 s shutdown grace" test "$stop" -gt 60

# sysusers.d and tmpfiles.d, applied to a scratch root.
if command -v systemd-sysusers >/dev/null 2>&1 && command -v systemd-tmpfiles >/dev/null 2>&1; then
	mkdir -p "$T/root/etc"
	systemd-sysusers --root="$T/root" "$TOP/systemd/delego-runner.sysusers.conf" >"$T/sysusers.out" 2>&1
	check_eq "systemd-sysusers accepts the snippet" 0 $?
	check_contains "it creates the delego-runner user with its home" \
		"delego-runner:x:" "$T/root/etc/passwd"
	check_contains "  whose home is /var/lib/delego-runner" ":/var/lib/delego-runner:" "$T/root/etc/passwd"
	systemd-tmpfiles --root="$T/root" --create "$TOP/systemd/delego-runner.tmpfiles.conf" >"$T/tmpfiles.out" 2>&1
	check_eq "systemd-tmpfiles accepts the snippet" 0 $?
	check "it creates the workspace" test -d "$T/root/var/lib/delego-runner/workspace"
	check_eq "the state directory (credentials, journal, workspace) is private (0700)" 700 "$(stat -c %a "$T/root/var/lib/delego-runner")"
	check_eq "the workspace is private (0700), as the runner makes it" 700 "$(stat -c %a "$T/root/var/lib/delego-runner/workspace")"
else
	echo "# SKIP: systemd-sysusers/systemd-tmpfiles not installed"
fi

done_testing
