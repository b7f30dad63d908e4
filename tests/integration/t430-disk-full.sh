#!/bin/sh
# The spool's disk is full: reports cannot be written before they are sent,
# so they go from memory; the job still reaches the relay and the runner
# says what happened. Needs root for a small tmpfs; skips otherwise.
. "$(dirname "$0")/lib.sh"
job_world
STATE=$T/full-state
mkdir -p "$STATE"
if ! mount -t tmpfs -o size=64k tmpfs "$STATE" 2>/dev/null; then
	echo "ok 1 - # SKIP cannot mount a small tmpfs here (needs root)"
	done_testing
	exit 0
fi
_umount() { umount "$STATE" 2>/dev/null; }
trap '_umount; cleanup' EXIT
dd if=/dev/zero of="$STATE/fill" bs=4k count=100 2>/dev/null # fills it: ENOSPC from now on

id=$(relay job add --repo acme/app --executor claude --identifier DISK-1 --prompt "scenario=edit")
XDG_STATE_HOME=$STATE runner run --once --workspace-root "$WS" --git-clone-base-url "$T/remotes" >"$T/run.log" 2>&1
check_eq "the run still exits 0" 0 $?
check_eq "the job completed on the relay" completed "$(relay job show "$id" --json | jsonq "d['status']")"
check_contains "the runner says the reports stay in memory" "keeping the report in memory only" "$T/run.log"
check_contains "and why" "No space left on device" "$T/run.log"
rm -f "$STATE/fill"
done_testing
