#!/bin/sh
# Relay traffic of an idle runner: requests a minute to the relay in each
# relay condition, default intervals, BENCH_SECONDS (default 600) after a
# 10 s settle. Conditions: long poll and realtime (serve), realtime only
# (--no-long-poll), long poll only with realtime unreachable
# (--no-realtime), neither (both flags). All run at once, each with its own
# relay. With the Node runner 0.8.0 (NODE_RUNNER_BIN, default: what t260
# installed under the build folder) it runs next to ours; without it the
# reference is the issue's figure: 2.4/min in the "neither" state.
#     BUILD=build sh tests/bench/traffic.sh
. "$(dirname "$0")/../integration/lib.sh"
secs=${BENCH_SECONDS:-600}

# One condition, one runner (a child: its own $T, relay and profile).
if [ "${1:-}" = --one ]; then
	name=$2 who=$3 flags=$4
	# shellcheck disable=SC2086
	relay_start $flags || exit 1
	tok=$(relay pair-token --name "$who") || exit 1
	if [ "$who" = node ]; then
		node --experimental-websocket "$NODE_RUNNER_BIN" --relay-url "$RELAY_URL" --pairing-token "$tok" \
			--workspace-root "$T/ws" >"$T/run.log" 2>&1 &
	else
		"$RUNNER_BIN" pair --relay-url "$RELAY_URL" --pairing-token "$tok" >/dev/null 2>&1 || exit 1
		"$RUNNER_BIN" run --workspace-root "$T/ws" >"$T/run.log" 2>&1 &
	fi
	pid=$!
	track_pid $pid
	sleep 10
	n0=$(wc -l <"$T/requests.jsonl")
	sleep "$secs"
	python3 - "$T/requests.jsonl" "$n0" "$secs" "$name" "$who" <<'PY'
import collections, json, sys
lines = open(sys.argv[1]).read().splitlines()[int(sys.argv[2]):]
secs = float(sys.argv[3])
by = collections.Counter(json.loads(l)["path"].rsplit("/api/runner/", 1)[-1] for l in lines)
detail = ", ".join("%s %d" % kv for kv in sorted(by.items()))
print("RESULT %-12s %-5s %5.2f requests/min  (%s in %d s)" % (sys.argv[4], sys.argv[5],
      len(lines) * 60 / secs, detail or "none", secs))
PY
	kill -TERM $pid 2>/dev/null
	wait_exit $pid 70
	exit 0
fi

NODE_RUNNER_BIN=${NODE_RUNNER_BIN:-$B/relay-node/node_modules/@delegoapp/runner/dist/bin.js}
export NODE_RUNNER_BIN
whos=ours
if command -v node >/dev/null 2>&1 && [ -f "$NODE_RUNNER_BIN" ]; then
	whos="ours node"
else
	echo "# no Node runner at $NODE_RUNNER_BIN: its reference is 2.4/min in the 'neither' state (issue)"
fi
echo "# idle relay traffic over $secs s per condition, default intervals"
for who in $whos; do
	sh "$0" --one long+push "$who" "" >"$T/long+push.$who" 2>&1 &
	sh "$0" --one push "$who" "--no-long-poll" >"$T/push.$who" 2>&1 &
	sh "$0" --one long "$who" "--no-realtime" >"$T/long.$who" 2>&1 &
	sh "$0" --one neither "$who" "--no-long-poll --no-realtime" >"$T/neither.$who" 2>&1 &
done
wait
for c in long+push push long neither; do
	for who in $whos; do
		grep RESULT "$T/$c.$who" || { echo "RESULT $c $who: failed"; sed 's/^/    | /' "$T/$c.$who" | tail -5; }
	done
done
echo "# load average: $(cat /proc/loadavg)"
