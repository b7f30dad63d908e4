#!/bin/sh
# delego-relay: every runner endpoint over HTTP, as delego-runner-protocol(7) has it.
. "$(dirname "$0")/lib.sh"

relay_start || exit 1

# register: single use, answers {runner:{id,...}, bearer}.
tok=$(relay pair-token --name "box one")
s=$(post /api/runner/register "$tok" "{\"pairingToken\":\"$tok\",\"version\":\"0.9.0\",\"supportedExecutors\":[\"claude\",\"codex\"]}")
check_eq "register: 200" 200 "$s"
check_eq "register: runner name" "box one" "$(ans "d['runner']['name']")"
check "register: bearer present, not the pairing token" python3 -c "
import json; d=json.load(open('$T/ans.json')); assert d['bearer'].startswith('drs_') and d['bearer'] != '$tok'"
BEARER=$(ans "d['bearer']"); RID=$(ans "d['runner']['id']"); B1=$BEARER; R1=$RID
s=$(post /api/runner/register "$tok" "{\"pairingToken\":\"$tok\",\"version\":\"0.9.0\",\"supportedExecutors\":[\"claude\"]}")
check_eq "register twice with one token: 401" 401 "$s"
check "... with an error sentence" sh -c "grep -q 'already used' '$T/ans.json'"
s=$(post /api/runner/register drs_pair_nope '{"pairingToken":"drs_pair_nope"}')
check_eq "register with an unknown token: 401" 401 "$s"
s=$(post /api/runner/register x '{"pairingToken":"not_a_pair_token"}')
check_eq "register with a non-drs_pair_ token: 401" 401 "$s"
check "bearers are stored hashed: not in the database file" sh -c "! grep -qa '$BEARER' '$RELAY_DB' '$RELAY_DB-wal' 2>/dev/null"
check "pairing tokens are stored hashed" sh -c "! grep -qa '$tok' '$RELAY_DB' '$RELAY_DB-wal' 2>/dev/null"

# heartbeat
s=$(post /api/runner/heartbeat "$BEARER" '{"version":"0.9.0","supportedExecutors":["claude","codex"],"activeJobId":null,"deliverRestart":true}')
check_eq "heartbeat: 200" 200 "$s"
check_eq "heartbeat: runner id" "$RID" "$(ans "d['runner']['id']")"
check_eq "heartbeat: status online" online "$(ans "d['runner']['status']")"
check "heartbeat: lastHeartbeatAt is ISO-8601" sh -c "python3 -c \"import json; print(json.load(open('$T/ans.json'))['runner']['lastHeartbeatAt'])\" | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$'"
check_eq "heartbeat: no restart key without a request" false "$(ans "'restart' in d")"
s=$(post /api/runner/heartbeat wrong '{}')
check_eq "heartbeat with a wrong bearer: 401" 401 "$s"
s=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$RELAY_URL/api/runner/heartbeat" -d '{}')
check_eq "heartbeat without authorization: 401" 401 "$s"
check_eq "runners: Online after the beat" Online "$(relay runners --json | jsonq "[r['statusLabel'] for r in d if r['id']=='$RID'][0]")"

# restart: delivered once, only on an idle steady-state beat.
relay restart "$RID" 2>/dev/null
post /api/runner/heartbeat "$BEARER" '{"activeJobId":null,"deliverRestart":false}' >/dev/null
check_eq "restart not delivered on a job beat (deliverRestart false)" false "$(ans "'restart' in d")"
post /api/runner/heartbeat "$BEARER" '{"activeJobId":"some-job","deliverRestart":true}' >/dev/null
check_eq "restart not delivered while busy" false "$(ans "'restart' in d")"
post /api/runner/heartbeat "$BEARER" '{"activeJobId":null,"deliverRestart":true}' >/dev/null
check_eq "restart delivered on an idle steady beat" true "$(ans "d.get('restart')")"
post /api/runner/heartbeat "$BEARER" '{"activeJobId":null,"deliverRestart":true}' >/dev/null
check_eq "restart delivered once" false "$(ans "'restart' in d")"

# poll: the JOB OBJECT.
s=$(post /api/runner/jobs/poll "$BEARER" '{"version":"0.9.0","supportedExecutors":["claude","codex"]}')
check_eq "poll with no job: 200" 200 "$s"
check_eq "poll with no job: job null" null "$(ans "d['job']")"
check "poll with no job: a reason" python3 -c "import json; assert json.load(open('$T/ans.json'))['reason']"
jid=$(relay job add --repo acme/web --executor claude --identifier ENG-1 --title "Fix it" --prompt "Please fix")
s=$(post /api/runner/jobs/poll "$BEARER" '{"version":"0.9.0","supportedExecutors":["claude","codex"]}')
cp "$T/ans.json" "$T/claim.json"
check_eq "poll claims the job" "$jid" "$(ans "d['job']['id']")"
check_eq "job has exactly the section 3 fields, in order" "id organizationId agentSessionId attemptId repositorySlug executionPreferences requestPayload publishingPolicy linearIssue promptSummary promptContext resumeContext" "$(ans "' '.join(d['job'].keys())")"
check_eq "job: organizationId is the realtime account" "$(ans "d['job']['organizationId']")" "$(ans "d['job']['organizationId']")"
check_eq "job: promptSummary" "Please fix" "$(ans "d['job']['promptSummary']")"
check_eq "job: resumeContext null" null "$(ans "d['job']['resumeContext']")"
ATT=$(ans "d['job']['attemptId']"); ORG=$(ans "d['job']['organizationId']"); SES=$(ans "d['job']['agentSessionId']")
check_eq "relay: job is running, held by the runner" "running $RID" "$(relay job show "$jid" --json | jsonq "d['status']+' '+d['runnerId']")"
s=$(post /api/runner/jobs/poll "$BEARER" '{}')
check_eq "the job is not handed out twice" null "$(ans "d['job']")"

# progress / status / complete, with idempotent eventIds.
s=$(post /api/runner/jobs/progress "$BEARER" "{\"jobId\":\"$jid\",\"organizationId\":\"$ORG\",\"summary\":\"workspace prepared\",\"metadata\":{\"attemptId\":\"$ATT\",\"branchName\":\"delego/eng-1\"},\"eventId\":\"ev-1\",\"seq\":1}")
check_eq "progress: 200" 200 "$s"
check_eq "progress: {}" "{}" "$(ans "d")"
post /api/runner/jobs/progress "$BEARER" "{\"jobId\":\"$jid\",\"organizationId\":\"$ORG\",\"summary\":\"workspace prepared\",\"metadata\":{\"attemptId\":\"$ATT\"},\"eventId\":\"ev-1\",\"seq\":1}" >/dev/null
post /api/runner/jobs/progress "$BEARER" "{\"jobId\":\"$jid\",\"organizationId\":\"$ORG\",\"summary\":\"no event id\",\"metadata\":{\"attemptId\":\"$ATT\"}}" >/dev/null
relay job show "$jid" --json >"$T/show.json"
check_eq "a repeated eventId is stored once" 1 "$(json "$T/show.json" "len([e for e in d['events'] if e['eventId']=='ev-1'])")"
check_eq "progress metadata stored" "delego/eng-1" "$(json "$T/show.json" "[e for e in d['events'] if e['eventId']=='ev-1'][0]['metadata']['branchName']")"
s=$(post /api/runner/jobs/status "$BEARER" "{\"jobId\":\"$jid\"}")
check_eq "status: 200, no cancellation" "200 false" "$s $(ans "d['job']['cancellationRequested']")"
s=$(post /api/runner/jobs/status "$BEARER" '{"jobId":"no-such-job"}')
check_eq "status of an unknown job: stop" true "$(ans "d['job']['cancellationRequested']")"
other=$(relay job add --repo acme/other --executor codex)
s=$(post /api/runner/jobs/complete "$BEARER" "{\"jobId\":\"$other\",\"organizationId\":\"$ORG\",\"agentSessionId\":\"x\",\"summary\":\"done\",\"metadata\":{}}")
check_eq "complete on a job not held by this runner: 409" 409 "$s"
check "... with an error" sh -c "grep -q 'not held' '$T/ans.json'"
s=$(post /api/runner/jobs/complete "$BEARER" "{\"jobId\":\"$jid\",\"organizationId\":\"$ORG\",\"agentSessionId\":\"$SES\",\"summary\":\"Claude executor completed\",\"metadata\":{\"attemptId\":\"$ATT\",\"exitCode\":0},\"eventId\":\"ev-done\"}")
check_eq "complete: 200" 200 "$s"
s=$(post /api/runner/jobs/complete "$BEARER" "{\"jobId\":\"$jid\",\"organizationId\":\"$ORG\",\"agentSessionId\":\"$SES\",\"summary\":\"Claude executor completed\",\"metadata\":{\"attemptId\":\"$ATT\",\"exitCode\":0},\"eventId\":\"ev-done\"}")
check_eq "complete retried with its eventId: 200" 200 "$s"
s=$(post /api/runner/jobs/fail "$BEARER" "{\"jobId\":\"$jid\",\"organizationId\":\"$ORG\",\"agentSessionId\":\"$SES\",\"summary\":\"late\",\"cancelled\":false,\"metadata\":{}}")
check_eq "fail after complete (new report): 409" 409 "$s"
relay job show "$jid" --json >"$T/show.json"
check_eq "job completed with summary" "completed|Claude executor completed" "$(json "$T/show.json" "d['status']+'|'+d['summary']")"
check_eq "final metadata kept" 0 "$(json "$T/show.json" "d['metadata']['exitCode']")"
check_eq "one complete event" 1 "$(json "$T/show.json" "len([e for e in d['events'] if e['kind']=='complete'])")"

# await and answer: the job goes back to the queue with resumeContext, for the same runner.
post /api/runner/jobs/poll "$BEARER" '{"supportedExecutors":["codex"]}' >/dev/null
check_eq "codex job claimed" "$other" "$(ans "d['job']['id']")"
ATT2=$(ans "d['job']['attemptId']")
s=$(post /api/runner/jobs/await "$BEARER" "{\"jobId\":\"$other\",\"organizationId\":\"$ORG\",\"agentSessionId\":\"s\",\"sessionId\":\"sess-42\",\"question\":{\"question\":\"Which DB?\",\"options\":[{\"label\":\"pg\"}]},\"worktreePath\":\"/w\",\"branchName\":\"delego/x\",\"attemptId\":\"$ATT2\",\"eventId\":\"aw-1\"}")
check_eq "await: 200" 200 "$s"
relay job show "$other" --json >"$T/show.json"
check_eq "job awaiting_input with the question" "awaiting_input|Which DB?" "$(json "$T/show.json" "d['status']+'|'+d['awaiting']['question']['question']")"
relay job answer "$other" "Use Postgres"
check_eq "answered job is queued again" queued "$(relay job show "$other" --json | jsonq "d['status']")"
register_runner "box two"
B2=$BEARER; R2=$RID
s=$(post /api/runner/jobs/poll "$B2" '{"supportedExecutors":["codex"]}')
check_eq "the answered job is not handed to another runner" null "$(ans "d['job']")"
s=$(post /api/runner/jobs/poll "$B1" '{"supportedExecutors":["codex"]}')
check_eq "... but to the runner that holds its worktree" "$other" "$(ans "d['job']['id']")"
check_eq "resumeContext carries the session and the reply" '{"claudeSessionId": "sess-42", "userReply": "Use Postgres"}' "$(ans "d['job']['resumeContext']")"
check "a new attemptId per claim" test "$(ans "d['job']['attemptId']")" != "$ATT2"

# cancellation: status says so; the holder's cancelled failure is accepted.
relay job cancel "$other"
post /api/runner/jobs/status "$B1" "{\"jobId\":\"$other\"}" >/dev/null
check_eq "cancelled job: cancellationRequested true" true "$(ans "d['job']['cancellationRequested']")"
s=$(post /api/runner/jobs/fail "$B1" "{\"jobId\":\"$other\",\"organizationId\":\"$ORG\",\"agentSessionId\":\"s\",\"summary\":\"Cancelled.\",\"cancelled\":true,\"metadata\":{}}")
check_eq "fail(cancelled) from the holder after a cancel: 200" 200 "$s"
check_eq "job stays cancelled" cancelled "$(relay job show "$other" --json | jsonq "d['status']")"

# executor matching: a claude-only runner never gets a codex job; the default executor applies.
relay settings --default-executor codex >/dev/null
cx=$(relay job add --repo acme/cx --executor codex)
nd=$(relay job add --repo acme/nd)
register_runner "claude only" '["claude"]'
BC=$BEARER
post /api/runner/jobs/poll "$BC" '{"supportedExecutors":["claude"]}' >/dev/null
check_eq "claude-only runner: no codex job, no default(codex) job" null "$(ans "d['job']")"
relay settings --default-executor claude >/dev/null
post /api/runner/jobs/poll "$BC" '{"supportedExecutors":["claude"]}' >/dev/null
check_eq "job without executor goes by the workspace default" "$nd" "$(ans "d['job']['id']")"
check_eq "... and carries that executor" claude "$(ans "d['job']['executionPreferences']['executor']")"
tok=$(relay pair-token --name restricted --executors codex)
post /api/runner/register "$tok" "{\"pairingToken\":\"$tok\",\"version\":\"1\",\"supportedExecutors\":[\"claude\"]}" >/dev/null
BR=$(ans "d['bearer']")
post /api/runner/jobs/poll "$BR" '{"supportedExecutors":["claude","codex"]}' >/dev/null
check_eq "poll claims only executors allowed at pairing" "$cx" "$(ans "d['job']['id']")"

# realtime-token: a JWT whose payload's sub is the account id.
s=$(post /api/runner/realtime-token "$B1" '{}')
check_eq "realtime-token: 200" 200 "$s"
check_eq "realtime-token: JWT payload sub is the account (organizationId)" "$ORG" "$(python3 -c "
import json,base64,sys
t=json.load(open('$T/ans.json'))['token'].split('.')
assert len(t)==3
p=t[1]+'='*(-len(t[1])%4)
print(json.loads(base64.urlsafe_b64decode(p))['sub'])")"
check "realtime-token: expiresAt ISO and exp in the future" python3 -c "
import json,base64,time
d=json.load(open('$T/ans.json'))
p=d['token'].split('.')[1]; p+='='*(-len(p)%4)
assert json.loads(base64.urlsafe_b64decode(p))['exp'] > time.time()
assert d['expiresAt'].endswith('Z') and d['supabaseUrl'].startswith('http')"

# Bodies: bounded, must be JSON objects.
python3 -c "print('{\"pad\":\"' + 'x'*1100000 + '\"}')" >"$T/big.json"
s=$(curl -s -o "$T/ans.json" -w '%{http_code}' -X POST "$RELAY_URL/api/runner/heartbeat" -H "authorization: Bearer $B1" --data-binary @"$T/big.json")
check_eq "a body over 1 MiB: 413" 413 "$s"
s=$(post /api/runner/heartbeat "$B1" 'not json')
check_eq "a body that is not JSON: 400" 400 "$s"
s=$(post /api/runner/heartbeat "$B1" '[1,2]')
check_eq "a body that is not an object: 400" 400 "$s"
s=$(post /api/runner/jobs/progress "$B1" '{"summary":"x"}')
check_eq "a report without jobId: 400" 400 "$s"
s=$(post /api/runner/nope "$B1" '{}')
check_eq "unknown runner endpoint: 404" 404 "$s"
s=$(curl -s -o /dev/null -w '%{http_code}' "$RELAY_URL/api/runner/heartbeat" -H "authorization: Bearer $B1")
check_eq "GET on a runner endpoint: 405" 405 "$s"

# Request log: one JSON line per runner request, never the Authorization header.
check "request log: every line has t, path, status, body" python3 -c "
import json
for l in open('$T/requests.jsonl'):
    d=json.loads(l); assert set(d)=={'t','path','status','body'}, d
    assert isinstance(d['t'], (int,float)) and d['t'] > 1.6e12"
check "request log: a heartbeat line with its body" python3 -c "
import json
ls=[json.loads(l) for l in open('$T/requests.jsonl')]
assert any(l['path']=='/api/runner/heartbeat' and l['status']==200 and l['body'].get('deliverRestart') is True for l in ls)"
check_not_contains "request log: no bearer" "$B1" "$T/requests.jsonl"
check_not_contains "request log: no pairing token" "$tok" "$T/requests.jsonl"

# unregister revokes: 401 afterwards, card Revoked.
s=$(post /api/runner/unregister "$B2" '{}')
check_eq "unregister: 200" 200 "$s"
s=$(post /api/runner/heartbeat "$B2" '{}')
check_eq "after unregister: 401" 401 "$s"
check_eq "unregistered runner shows Revoked" revoked "$(relay runners --json | jsonq "[r['status'] for r in d if r['id']=='$R2'][0]")"
done_testing
