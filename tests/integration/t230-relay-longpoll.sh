#!/bin/sh
# delego-relay: long poll (delego-runner-protocol(7), EXTENSIONS), rotate and remove in the middle of a job.
. "$(dirname "$0")/lib.sh"

relay_start || exit 1
register_runner one; B1=$BEARER; R1=$RID
register_runner two; B2=$BEARER; R2=$RID
now_ms() { date +%s%3N; }
lpoll() { # lpoll BEARER WAITMS FILE: long poll; writes "<status> <end ms>" to FILE.st
	_c=$(curl -s -o "$3" -w '%{http_code}' -X POST "$RELAY_URL/api/runner/jobs/poll" -H "authorization: Bearer $1" \
		-H 'content-type: application/json' -d "{\"supportedExecutors\":[\"claude\",\"codex\"],\"waitMs\":$2}")
	echo "$_c $(now_ms)" >"$3.st"
}

# Nothing queued: the poll holds until waitMs, then answers longPoll true.
t0=$(now_ms); lpoll "$B1" 600 "$T/lp0"; t1=$(now_ms)
check_eq "empty long poll answers job null" null "$(json "$T/lp0" "d['job']")"
check_eq "... with longPoll true" true "$(json "$T/lp0" "d['longPoll']")"
check "... after about waitMs (550..2000 ms)" test $((t1 - t0)) -ge 550 -a $((t1 - t0)) -lt 2000
echo "# empty long poll of 600 ms took $((t1 - t0)) ms"

# A job queued by the CLI (another process) wakes a waiting poll.
lpoll "$B1" 10000 "$T/lp1" & lp=$!
sleep 0.5
jid=$(relay job add --repo acme/wake); t_enq=$(now_ms)
wait $lp
t_ans=$(sed 's/.* //' "$T/lp1.st")
lat=$((t_ans - t_enq))
echo "# wake-up latency after the CLI returned: $lat ms"
check_eq "woken poll claims the job" "$jid" "$(json "$T/lp1" "d['job']['id']")"
check_eq "... and says longPoll" true "$(json "$T/lp1" "d['longPoll']")"
check "... within 250 ms of the enqueue (measured $lat ms)" test "$lat" -lt 250

# A job already queued: answered at once.
jid=$(relay job add --repo acme/now)
t0=$(now_ms); lpoll "$B1" 10000 "$T/lp2"; t1=$(now_ms)
check_eq "long poll with a job queued: immediate claim" "$jid" "$(json "$T/lp2" "d['job']['id']")"
check "... in under 500 ms" test $((t1 - t0)) -lt 500

# Two waiting polls, one job: exactly one gets it; the other keeps waiting.
lpoll "$B1" 1500 "$T/lpa" & pa=$!
lpoll "$B2" 1500 "$T/lpb" & pb=$!
sleep 0.3
jid=$(relay job add --repo acme/one)
wait $pa $pb
check_eq "two waiters, one job: it is handed out once" 1 "$(python3 -c "
import json
print(sum(1 for f in ('$T/lpa','$T/lpb') if (json.load(open(f))['job'] or {}).get('id')=='$jid'))")"

# A runner that gave up waiting is not handed the next job.
curl -s -o /dev/null --max-time 1 -X POST "$RELAY_URL/api/runner/jobs/poll" -H "authorization: Bearer $B1" \
	-H 'content-type: application/json' -d '{"waitMs":20000}'
jid=$(relay job add --repo acme/after)
sleep 0.2
post /api/runner/jobs/poll "$B2" '{}' >/dev/null
check_eq "a job queued after the waiter hung up goes to the next poll" "$jid" "$(ans "d['job']['id']")"
check "the request log says the waiter was gone (499)" grep -q '"status":499' "$T/requests.jsonl"

# A rotation while a poll waits: the poll answers 401.
lpoll "$B2" 10000 "$T/lp3" & lp=$!
sleep 0.3
newtok=$(relay rotate "$R2")
wait $lp
check_eq "rotation during a long poll: 401" 401 "$(cut -d' ' -f1 "$T/lp3.st")"

# Rotate mid-job: the job fails, the old bearer is dead, re-pairing keeps the id.
jid=$(relay job add --repo acme/mid)
post /api/runner/jobs/poll "$B1" '{}' >/dev/null
check_eq "runner one holds the job" "$jid" "$(ans "d['job']['id']")"
tok=$(relay rotate "$R1")
check "rotate prints a fresh pairing token" sh -c "echo '$tok' | grep -q '^drs_pair_'"
s=$(post /api/runner/jobs/complete "$B1" "{\"jobId\":\"$jid\",\"summary\":\"done\",\"metadata\":{}}")
check_eq "rotated bearer: complete is 401" 401 "$s"
s=$(post /api/runner/heartbeat "$B1" '{}')
check_eq "rotated bearer: heartbeat is 401" 401 "$s"
check_eq "rotated mid-job: job failed" failed "$(relay job show "$jid" --json | jsonq "d['status']")"
check_eq "rotated runner shows Not registered until re-paired" not_registered "$(relay runners --json | jsonq "[r['status'] for r in d if r['id']=='$R1'][0]")"
s=$(post /api/runner/register "$tok" "{\"pairingToken\":\"$tok\",\"version\":\"2\",\"supportedExecutors\":[\"claude\"]}")
check_eq "re-pair with the rotation token: 200" 200 "$s"
check_eq "re-pairing keeps the runner id" "$R1" "$(ans "d['runner']['id']")"
B1=$(ans "d['bearer']")
check_eq "one card for the runner" 1 "$(relay runners --json | jsonq "len([r for r in d if r['id']=='$R1'])")"

# Remove mid-job: the job fails, the runner is gone from the list, 401.
jid=$(relay job add --repo acme/rm --executor claude)
post /api/runner/jobs/poll "$B1" '{}' >/dev/null
check_eq "re-paired runner claims" "$jid" "$(ans "d['job']['id']")"
relay remove "$R1" 2>/dev/null
check_eq "removed mid-job: job failed" failed "$(relay job show "$jid" --json | jsonq "d['status']")"
check "removed mid-job: the summary says why" sh -c "'$RELAY_BIN' --db '$RELAY_DB' job show '$jid' | grep -q 'removed'"
s=$(post /api/runner/jobs/status "$B1" "{\"jobId\":\"$jid\"}")
check_eq "removed runner: 401" 401 "$s"
check_eq "removed runner is gone from the list" 0 "$(relay runners --json | jsonq "len([r for r in d if r['id']=='$R1'])")"
check "remove of an unknown runner fails" sh -c "! '$RELAY_BIN' --db '$RELAY_DB' remove nope 2>/dev/null"

# SIGTERM while a poll waits: the poll is answered and the relay exits 0 quickly.
tok=$(relay pair-token)
post /api/runner/register "$tok" "{\"pairingToken\":\"$tok\"}" >/dev/null
B3=$(ans "d['bearer']")
lpoll "$B3" 20000 "$T/lp4" & lp=$!
sleep 0.3
t0=$(now_ms); kill -TERM "$RELAY_PID"; wait "$RELAY_PID"; rc=$?; t1=$(now_ms); RELAY_PID=""
wait $lp
check_eq "SIGTERM with a waiting poll: exit 0" 0 "$rc"
check "... within a second" test $((t1 - t0)) -lt 1000
check_eq "... and the poll got an answer" 200 "$(cut -d' ' -f1 "$T/lp4.st")"
done_testing
