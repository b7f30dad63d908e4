#!/bin/sh
# delego-relay serves the Node runner 0.8.0 unchanged: pair, heartbeat, and
# --once claiming a job for a local repo, run by a stand-in Claude, completed
# on the relay. See tests/relay-node/README.md.
. "$(dirname "$0")/lib.sh"

NODE_RUNNER_VERSION=0.8.0
skip_all() { echo "ok 1 - # SKIP $*"; exit 0; }
command -v node >/dev/null 2>&1 || skip_all "no node"
command -v npm >/dev/null 2>&1 || skip_all "no npm"

# The package and its dependencies go under the build folder, never the tree.
NR=$B/relay-node
BIN=$NR/node_modules/@delegoapp/runner/dist/bin.js
if [ ! -f "$BIN" ]; then
	mkdir -p "$NR"
	[ -f "$NR/package.json" ] || echo '{"private": true}' >"$NR/package.json"
	if ! (cd "$NR" && npm install --no-audit --no-fund --loglevel=error "@delegoapp/runner@$NODE_RUNNER_VERSION") >"$T/npm.log" 2>&1; then
		skip_all "npm could not install @delegoapp/runner@$NODE_RUNNER_VERSION: $(tail -n 1 "$T/npm.log")"
	fi
fi
noderunner() { node "$BIN" "$@"; }

relay_start || exit 1

# A local repository under the workspace root, as the Node runner looks for it.
WS=$T/ws
mkdir -p "$WS/acme/demo"
(cd "$WS/acme/demo" && git init -q -b main && echo demo >README.md && git add README.md && git commit -q -m init) || exit 1

tok=$(relay pair-token --name "node runner")
jid=$(relay job add --repo acme/demo --executor claude --identifier ENG-5 --title "Add notes" --prompt "Write NOTES.md")
noderunner --relay-url "$RELAY_URL" --pairing-token "$tok" --workspace-root "$WS" \
	--claude-command "$TOP/tests/relay-node/stand-in-claude.sh" --supported-executors claude --once \
	>"$T/node1.log" 2>&1
rc=$?
check_eq "node runner --once: exit 0" 0 "$rc"
[ "$rc" -eq 0 ] || sed 's/^/    | /' "$T/node1.log" | tail -n 30

creds=$XDG_CONFIG_HOME/delego-runner/credentials.json
RID=$(json "$creds" "d['profiles']['default']['runnerId']")
check_eq "paired: the profile holds the relay URL" "$RELAY_URL" "$(json "$creds" "d['profiles']['default']['relayUrl']")"
relay runners --json >"$T/runners.json"
check_eq "the relay knows the runner, version 0.8.0" "0.8.0" "$(json "$T/runners.json" "[r['version'] for r in d if r['id']=='$RID'][0]")"
check_eq "its heartbeat is recorded (Online)" "online" "$(json "$T/runners.json" "[r['status'] for r in d if r['id']=='$RID'][0]")"
check_contains "the runner printed the heartbeat answer" "heartbeat: $RID is online" "$T/node1.log"

relay job show "$jid" --json >"$T/job.json"
check_eq "the job completed on the relay" completed "$(json "$T/job.json" "d['status']")"
check_eq "held by the Node runner" "$RID" "$(json "$T/job.json" "d['runnerId']")"
check "progress: the workspace was prepared" python3 -c "
import json,sys
d=json.load(open('$T/job.json'))
assert any(e['kind']=='progress' and 'Prepared local workspace' in (e['summary'] or '') for e in d['events']), d['events']"
check_eq "completion metadata: the file the agent wrote" '["NOTES.md"]' "$(json "$T/job.json" "d['metadata']['changedFiles']")"
check_eq "completion metadata: the commit subject" "ENG-5: Add notes" "$(json "$T/job.json" "d['metadata']['commitMetadata']['subject']")"
check_eq "completion metadata: the agent's reply" "Wrote NOTES.md as asked." "$(json "$T/job.json" "d['metadata']['assistantResponse']")"
check_eq "completion metadata: the branch" "delego/eng-5-$(echo "$jid" | cut -c1-8)" "$(json "$T/job.json" "d['metadata']['branchName']")"
check "the commit exists in the runner's worktree" sh -c "git -C '$WS/worktrees/acme/demo/$jid' log -1 --format=%s | grep -q 'ENG-5: Add notes'"
check "request log: register, heartbeat, poll, progress, complete in order" python3 -c "
import json
paths=[json.loads(l)['path'].rsplit('/api/runner/',1)[1] for l in open('$T/requests.jsonl')]
want=['register','heartbeat','jobs/poll','heartbeat','jobs/progress','jobs/complete','heartbeat']
it=iter(paths)
assert all(any(p==w for p in it) for w in want), paths"
check "request log: every runner request answered 200" python3 -c "
import json
bad=[l for l in map(json.loads, open('$T/requests.jsonl')) if l['status']!=200]
assert not bad, bad"

# From the stored profile, nothing to do: one poll and out.
noderunner --workspace-root "$WS" --claude-command "$TOP/tests/relay-node/stand-in-claude.sh" --once >"$T/node2.log" 2>&1
check_eq "second --once from the profile: exit 0" 0 "$?"
check_contains "... and no job" "poll: no job" "$T/node2.log"

# A used token is refused with the Node runner's own message.
noderunner --relay-url "$RELAY_URL" --pairing-token "$tok" --profile again --once >"$T/node3.log" 2>&1
check "reusing the pairing token fails" test $? -ne 0
check_contains "... saying it expired or was used" "pairing token expired or already used" "$T/node3.log"

# Rotated in the dashboard: the Node runner exits 2 with its re-pair advice.
relay rotate "$RID" >/dev/null
noderunner --once >"$T/node4.log" 2>&1
check_eq "after rotation: exit 2" 2 "$?"
check_contains "... telling the user to re-pair" "Re-pair with --pairing-token" "$T/node4.log"
# A restarted Node runner still gets pushes: its new join has new ids, and
# Supabase's client drops events whose ids are not its own. Long poll off, so
# only a push explains a pickup within seconds (the Node runner's safety sync
# is 5 minutes).
if node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' 2>/dev/null; then
	NODE_WS=
elif node --experimental-websocket -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' 2>/dev/null; then
	NODE_WS=--experimental-websocket
else
	echo "# SKIP push to a restarted Node runner: this node has no WebSocket"
	done_testing; exit
fi
relay_stop
relay_start --no-long-poll || exit 1
tok=$(relay pair-token --name "node push")
# node_daemon N [ARGS]: the Node runner in the background, log $T/push-N.log.
node_daemon() {
	_k=$1; shift
	node $NODE_WS "$BIN" --profile push --workspace-root "$WS" --claude-command "$TOP/tests/relay-node/stand-in-claude.sh" \
		--supported-executors claude "$@" >"$T/push-$_k.log" 2>&1 &
	NODE_PID=$!
	track_pid $NODE_PID
}
claimed_in() { grep -q "claimed $2" "$T/push-$1.log"; }
for n in 1 2; do
	if [ $n = 1 ]; then node_daemon 1 --relay-url "$RELAY_URL" --pairing-token "$tok"; else node_daemon 2; fi
	check "run $n: subscribed to the push feed" wait_for 15 grep -q "kick: realtime-push" "$T/push-$n.log"
	sleep 1
	j=$(relay job add --repo acme/demo --executor claude --identifier "PUSH-$n" --title "push $n" --prompt "Write NOTES.md")
	check "run $n: the job is claimed by push within 10 s" wait_for 10 claimed_in $n "$j"
	kill "$NODE_PID" 2>/dev/null
	wait_exit "$NODE_PID" 20
	[ "$EXIT" = timeout ] && kill -9 "$NODE_PID" 2>/dev/null
done
done_testing
