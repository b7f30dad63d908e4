#!/bin/sh
# The push client against a Phoenix peer (tests/fixtures/realtime/
# phoenix_peer.py): the URL and join it sends, a pushed INSERT that makes
# it poll, the token refresh sent on the channel without reconnecting
# (expiresAt is 61 s away: the refresh comes a second later), the 25 s
# heartbeat, and after the peer drops the connection, a reconnect and a new
# join.
. "$(dirname "$0")/lib.sh"
CREDS=$XDG_CONFIG_HOME/delego-runner/credentials.json
STATUS=$XDG_STATE_HOME/delego-runner/default/status.json
P=$T/peer.log
python3 "$FIXTURES/realtime/phoenix_peer.py" "$T/peer.url" "$P" &
track_pid $!
wait_for 10 test -s "$T/peer.url" || { not_ok "the peer starts"; done_testing; exit 1; }
URL=$(cat "$T/peer.url")
mkdir -p "$(dirname "$CREDS")"
printf '{"version":1,"profiles":{"default":{"relayUrl":"%s","runnerId":"r1","bearer":"bearer-123456","pairedAt":"x"}}}\n' \
	"$URL" >"$CREDS"
chmod 600 "$CREDS"
# peer EXPR: a Python expression over the log's events `e` (a list).
peer() { python3 -c 'import json,sys; e=[json.loads(l) for l in open(sys.argv[1])]; print(eval(sys.argv[2]))' "$P" "$1"; }
peer_true() { [ "$(peer "$1")" = True ]; }
msgs='[x["in"] for x in e if "in" in x]'

runner_bg "$T/run.log" run --log-level debug --workspace-root "$T/ws" --poll-interval-ms 60000 \
	--safety-sync-interval-ms 60000 --fallback-poll-interval-ms 60000
check "the runner joins" wait_for 10 peer_true "any(m['event'] == 'phx_join' for m in $msgs)"
check_eq "it connects with apikey = the first token and vsn 1.0.0" "True" \
	"$(peer "[x for x in e if x.get('ws') == 'connect'][0]['query']['vsn'] == ['1.0.0'] and [x for x in e if x.get('ws') == 'connect'][0]['query']['apikey'][0].count('.') == 2")"
check_eq "the join's topic is the token's account" "realtime:runner-account-acct-1" \
	"$(peer "[m for m in $msgs if m['event'] == 'phx_join'][0]['topic']")"
check_eq "it asks for postgres_changes on public.jobs of the account" \
	"[{'event': '*', 'schema': 'public', 'table': 'jobs', 'filter': 'account_id=eq.acct-1'}]" \
	"$(peer "[m for m in $msgs if m['event'] == 'phx_join'][0]['payload']['config']['postgres_changes']")"
check_eq "join_ref and ref are set on the join" True "$(peer "[m for m in $msgs if m['event'] == 'phx_join'][0]['join_ref'] is not None")"
check "status shows push live" wait_for 5 sh -c "grep -q '\"push\":true' '$STATUS'"
# The peer pushes an INSERT a second after the join's answer: a poll follows it.
check "the pushed INSERT makes it poll" wait_for 8 peer_true \
	"any(x.get('out') == 'insert' for x in e) and len([x for x in e[[i for i, x in enumerate(e) if x.get('out') == 'insert'][0]:] if x.get('http') == '/api/runner/jobs/poll']) >= 1"

check "a token refresh is sent on the channel" wait_for 10 peer_true "any(m['event'] == 'access_token' for m in $msgs)"
check_eq "with the second token, on the joined topic" "True" \
	"$(peer "[m for m in $msgs if m['event'] == 'access_token'][0]['payload']['access_token'].split('.')[1] != [x for x in e if x.get('ws') == 'connect'][0]['query']['apikey'][0].split('.')[1] and [m for m in $msgs if m['event'] == 'access_token'][0]['topic'] == 'realtime:runner-account-acct-1'")"
# Order, not timing: what came before the first access_token message.
first_at="[i for i, x in enumerate(e) if x.get('in', {}).get('event') == 'access_token'][0]"
check_eq "without a new connection" 1 "$(peer "len([x for x in e[:$first_at] if x.get('ws') == 'connect'])")"
check_eq "after a second realtime-token call" 2 "$(peer "len([x for x in e[:$first_at] if x.get('http') == '/api/runner/realtime-token'])")"

check "a heartbeat on the phoenix topic within 30 s" wait_for 30 peer_true \
	"any(m['topic'] == 'phoenix' and m['event'] == 'heartbeat' for m in $msgs)"
check "the peer dropped the connection" wait_for 5 peer_true "any(x.get('ws') == 'dropped' for x in e)"
check "the runner says push is lost" wait_for 5 grep -q "realtime push lost" "$T/run.log"
check "it reconnects and joins again" wait_for 15 peer_true \
	"len([x for x in e if x.get('ws') == 'connect']) == 2 and len([m for m in $msgs if m['event'] == 'phx_join']) == 2"
check "push is live again" wait_for 5 sh -c "[ \$(grep -c 'realtime push is live' '$T/run.log') -ge 2 ]"
check_not_contains "no token in the log" "$(peer "[x for x in e if x.get('ws') == 'connect'][0]['query']['apikey'][0]")" "$T/run.log"
kill -TERM "$RUNNER_PID"; wait_exit "$RUNNER_PID" 15
check_eq "SIGTERM ends it with 0, promptly" 0 "$EXIT"
done_testing
