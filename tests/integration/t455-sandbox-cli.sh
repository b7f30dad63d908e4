#!/bin/sh
# The real claude and codex CLIs from npm, inside each sandbox that works
# here, run by an ordinary user who never logged them in: each must end as
# it does with --sandbox off (claude: "Not logged in"; codex, offline:
# waiting for the network until the timeout), never with a sandbox error
# (read-only file system, permission denied). Skipped, with the reason,
# where npm cannot install them in 50 s. DR_CLI_MODES, DR_CLI_EXECUTORS and
# DR_CLI_TIMEOUT_MS narrow it down by hand.
. "$(dirname "$0")/lib.sh"

skip_all() { echo "ok 1 - # SKIP $*"; exit 0; }
command -v npm >/dev/null 2>&1 || skip_all "npm is not installed"
RUN_AS=""
if [ "$(id -u)" -eq 0 ]; then
	SB_USER=drcli$$
	useradd -M -d "$HOME" -s /bin/sh "$SB_USER" >/dev/null 2>&1 || skip_all "cannot useradd"
	RUN_AS="setpriv --reuid=$SB_USER --regid=$SB_USER --clear-groups --"
	trap 'cleanup; userdel "$SB_USER" 2>/dev/null' EXIT
fi
# Under HOME, not $T: bwrap's private /tmp would hide $T but brings HOME back read-only.
CLI=$HOME/.local/lib/cli
mkdir -p "$CLI"
timeout 50 npm install --silent --no-audit --no-fund --prefix "$CLI" @anthropic-ai/claude-code @openai/codex \
	>"$T/npm.log" 2>&1 || skip_all "npm install @anthropic-ai/claude-code @openai/codex failed or took over 50 s: $(tail -n 1 "$T/npm.log")"
[ -x "$CLI/node_modules/.bin/claude" ] && [ -x "$CLI/node_modules/.bin/codex" ] || skip_all "npm installed no claude/codex"

job_world
unset DELEGO_SANDBOX_WRITABLE ANTHROPIC_API_KEY OPENAI_API_KEY CODEX_API_KEY
[ -n "$RUN_AS" ] && chown -R "$SB_USER:$SB_USER" "$T"
show() { relay job show "$1" --json >"$T/job.json"; }
f() { json "$T/job.json" "$1"; }

modes="off"
command -v bwrap >/dev/null 2>&1 && $RUN_AS unshare -Ur true 2>/dev/null && modes="$modes bwrap"
[ "$(python3 -c 'import ctypes; print(ctypes.CDLL(None).syscall(444, 0, 0, 1))')" -ge 1 ] && modes="$modes landlock"
[ "$modes" != off ] || skip_all "neither bwrap nor Landlock works here"
# Under Landlock a /tmp that holds hidden paths (this test's HOME and workspace) takes no new entries.
mkdir -p "$T/tmp" && [ -n "$RUN_AS" ] && chown "$SB_USER" "$T/tmp"
for ex in ${DR_CLI_EXECUTORS:-claude codex}; do
	for m in ${DR_CLI_MODES:-$modes}; do
		id=$(relay job add --repo acme/app --executor "$ex" --identifier "CLI-$m-$ex" --prompt "say hi")
		$RUN_AS env PATH="$CLI/node_modules/.bin:$PATH" TMPDIR="$T/tmp" "$RUNNER_BIN" run --once --workspace-root "$WS" \
			--git-clone-base-url "$T/remotes" --sandbox "$m" --executor-timeout-ms ${DR_CLI_TIMEOUT_MS:-10000} \
			--"$ex"-command "$CLI/node_modules/.bin/$ex" >"$T/run-$m-$ex.log" 2>&1
		show "$id"
		f "d['summary'] + ' ' + (d['metadata'].get('stderrTail') or '') + ' ' + (d['metadata'].get('stdoutTail') or '')" \
			>"$T/out-$m-$ex.txt"
		# How it ended, without the numbers: offline, codex waits for the network in every mode.
		ending=$(f "__import__('re').sub(r'[0-9]+', 'N', d['summary'])[:60]")
		check_eq "$m: $ex ran and failed, in sandbox $m" "failed $m" "$(f "d['status'] + ' ' + d['metadata']['sandbox']['mode']")"
		if [ "$m" = off ]; then
			off_ending=$ending
			grep -qiE "log ?in|api key|auth" "$T/out-$m-$ex.txt" && off_login=1 || off_login=0
			continue
		fi
		check_eq "$m: $ex ends as it does unsandboxed" "$off_ending" "$ending"
		[ "$off_login" = 1 ] && check "$m: $ex says it is not logged in ($(head -c 100 "$T/out-$m-$ex.txt"))" \
			grep -qiE "log ?in|api key|auth" "$T/out-$m-$ex.txt"
		check "$m: $ex met no sandbox error" sh -c "! grep -qiE 'read-only file system|EROFS|EACCES|permission denied|cannot sandbox' '$T/out-$m-$ex.txt'"
	done
done
done_testing
