#!/bin/sh
# Pickup latency with realtime push: 20 jobs queued one at a time while the
# runner idles on push (relay: serve --no-long-poll; runner: every poll
# interval at 60 s, so only a push can explain a fast claim). Latency is
# claimedAt - createdAt on the relay's clock. Prints every sample, then
# the median; target 100 ms. Exit 1 when the median misses the target.
#     BUILD=build-rt sh tests/bench/push-latency.sh [N]
. "$(dirname "$0")/../integration/lib.sh"
export PATH="$FIXTURES/bin:$PATH"
N=${1:-20}
TARGET_MS=${TARGET_MS:-100}
STATUS=$XDG_STATE_HOME/delego-runner/default/status.json
relay_start --no-long-poll || exit 1
pair_runner || { echo "pairing failed"; exit 1; }
runner_bg "$T/run.log" run --workspace-root "$T/ws" --poll-interval-ms 60000 --safety-sync-interval-ms 60000 \
	--fallback-poll-interval-ms 60000
wait_for 10 grep -q '"push":true' "$STATUS" || { echo "push never came up"; cat "$T/run.log"; exit 1; }
sleep 1
i=0
: >"$T/ids"
while [ $i -lt "$N" ]; do
	id=$(relay job add --repo acme/app --executor codex --prompt "scenario=success")
	echo "$id" >>"$T/ids"
	# Wait for it to finish (it fails fast: no upstream) so that the runner is idle again.
	wait_for 30 sh -c "relay_st=\$('$RELAY_BIN' --db '$RELAY_DB' job show '$id' --json) && echo \"\$relay_st\" | grep -q '\"finishedAt\":[[:space:]]*\"'" ||
		{ echo "job $id did not finish"; exit 1; }
	sleep 0.3
	i=$((i + 1))
done
relay job list --json | python3 -c '
import datetime, json, sys
ids = set(open(sys.argv[1]).read().split())
ms = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000
lat = sorted(ms(j["claimedAt"]) - ms(j["createdAt"]) for j in json.load(sys.stdin) if j["id"] in ids)
print("samples (ms):", " ".join("%.0f" % x for x in lat))
n = len(lat)
med = lat[n // 2] if n % 2 else (lat[n // 2 - 1] + lat[n // 2]) / 2
print("push pickup latency: median %.0f ms, max %.0f ms over %d jobs (target %s ms)" % (med, lat[-1], n, sys.argv[2]))
sys.exit(0 if med <= float(sys.argv[2]) else 1)
' "$T/ids" "$TARGET_MS"
