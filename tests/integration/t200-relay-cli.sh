#!/bin/sh
# delego-relay: serve lifecycle, the admin CLI, settings, token expiry with a moved clock.
. "$(dirname "$0")/lib.sh"

check "serve --help states the status thresholds" sh -c "'$RELAY_BIN' serve --help | grep -q 'default 600' && '$RELAY_BIN' serve --help | grep -q 'default 1800'"
for c in admin-token pair-token runners rotate remove restart "job add" "job list" "job show" "job cancel" \
	"job answer" settings serve; do
	# shellcheck disable=SC2086 # the subcommand is two words
	out=$("$RELAY_BIN" --db "$T/help.db" $c --help 2>&1); rc=$?
	check_eq "'$c --help' exits 0" 0 "$rc"
	check "'$c --help' prints that subcommand's usage" sh -c "printf '%s\n' \"\$1\" | head -n 1 | grep -q '^usage: delego-relay .*$c'" sh "$out"
done
check "--help opens no database" test ! -e "$T/help.db"
check "unknown command is a usage error (64)" sh -c "'$RELAY_BIN' --db '$RELAY_DB' frobnicate 2>/dev/null; test \$? -eq 64"

relay_start || exit 1
check "url file holds http://127.0.0.1:PORT" sh -c "grep -Eq '^http://127\.0\.0\.1:[0-9]+$' '$T/relay.url'"
check_contains "logs 'listening on URL'" "listening on $RELAY_URL" "$T/relay.log"
check_contains "logs the panel URL with the admin token" "$RELAY_URL/#token=$(relay admin-token)" "$T/relay.log"
check "admin token is stable across calls" test "$(relay admin-token)" = "$(relay admin-token)"

tok=$(relay pair-token --name "laptop")
check "pairing token is drs_pair_ + 43 base64url chars (256 bits)" sh -c "echo '$tok' | grep -Eq '^drs_pair_[A-Za-z0-9_-]{43}$'"
check "two tokens differ" test "$tok" != "$(relay pair-token)"
relay pair-token --name "ci box" --executors claude --json >"$T/pt.json"
check_eq "pair-token --json: runnerId is a UUID" 36 "$(json "$T/pt.json" "len(d['runnerId'])")"
check "pair-token --json: expiresAt is 15 minutes out" python3 -c "
import json,datetime,sys
d=json.load(open('$T/pt.json'))
e=datetime.datetime.fromisoformat(d['expiresAt'].replace('Z','+00:00'))
n=datetime.datetime.now(datetime.timezone.utc)
sys.exit(0 if 14*60 < (e-n).total_seconds() <= 15*60 else 1)"
check_eq "pair-token --json: command" "printf '%s' $(json "$T/pt.json" "d['token']") | delego-runner pair --relay-url $RELAY_URL --pairing-token - --supported-executors claude" "$(json "$T/pt.json" "d['command']")"
check "pair-token refuses an unknown executor" sh -c "! '$RELAY_BIN' --db '$RELAY_DB' pair-token --executors gemini 2>/dev/null"
long=$(python3 -c "print('x'*121)")
check "pair-token refuses a 121-character name" sh -c "! '$RELAY_BIN' --db '$RELAY_DB' pair-token --name '$long' 2>$T/long.err"
check_contains "... and says the limit" "120 characters" "$T/long.err"

relay runners --json >"$T/runners.json"
check_eq "unused tokens show as Not registered cards" "not_registered" "$(json "$T/runners.json" "sorted(set(r['status'] for r in d))[0]")"
check_eq "ci box card has its executors" '["claude"]' "$(json "$T/runners.json" "[r['executors'] for r in d if r['name']=='ci box'][0]")"
relay runners >"$T/runners.txt"
check_contains "runners table shows the label" "Not registered" "$T/runners.txt"

# Settings, and the workspace path in the pairing command.
relay settings --default-executor claude --workspace-path "/srv/work space" --json >"$T/set.json"
check_eq "settings: default executor" claude "$(json "$T/set.json" "d['defaultExecutor']")"
check_eq "settings: workspace path" "/srv/work space" "$(json "$T/set.json" "d['workspacePath']")"
relay pair-token --json >"$T/pt2.json"
check_eq "pairing command carries --workspace-root, shell-quoted" "printf '%s' $(json "$T/pt2.json" "d['token']") | delego-runner pair --relay-url $RELAY_URL --pairing-token - --workspace-root '/srv/work space'" "$(json "$T/pt2.json" "d['command']")"
check "settings refuses a relative workspace path" sh -c "! '$RELAY_BIN' --db '$RELAY_DB' settings --workspace-path rel/dir 2>/dev/null"
check "settings refuses an unknown executor" sh -c "! '$RELAY_BIN' --db '$RELAY_DB' settings --default-executor gpt 2>/dev/null"
relay settings --workspace-path "" >/dev/null

# Jobs from the CLI.
jid=$(relay job add --repo acme/web --executor codex --model gpt-5 --thinking high --identifier ENG-7 --title "Fix login" --url https://linear.app/x/ENG-7 --prompt "Do it" --auto-push --auto-create-pr --pr-draft)
check "job add prints a UUID" sh -c "echo '$jid' | grep -Eq '^[0-9a-f-]{36}$'"
relay job show "$jid" --json >"$T/job.json"
check_eq "job show: status queued" queued "$(json "$T/job.json" "d['status']")"
check_eq "job show: the stored job" '{"executor": "codex", "model": "gpt-5", "thinking": "high"}' "$(json "$T/job.json" "d['job']['executionPreferences']")"
check_eq "job show: publishing policy" '{"autoPush": true, "autoCreatePr": true, "prDraft": true}' "$(json "$T/job.json" "d['job']['publishingPolicy']")"
check_eq "job show: linear issue" '{"identifier": "ENG-7", "title": "Fix login", "url": "https://linear.app/x/ENG-7"}' "$(json "$T/job.json" "d['job']['linearIssue']")"
check_eq "job show: a queued event" queued "$(json "$T/job.json" "d['events'][0]['kind']")"
check "job add refuses --auto-create-pr without --auto-push" sh -c "! '$RELAY_BIN' --db '$RELAY_DB' job add --repo a/b --auto-create-pr 2>/dev/null"
check "job add refuses a slug with .." sh -c "! '$RELAY_BIN' --db '$RELAY_DB' job add --repo ../etc 2>/dev/null"
check "job add refuses a slug with a leading -" sh -c "! '$RELAY_BIN' --db '$RELAY_DB' job add --repo -x/y 2>/dev/null"
j2=$(relay job add --repo acme/api)
check_eq "default identifier is LOCAL-<n>" LOCAL-2 "$(relay job show "$j2" --json | jsonq "d['job']['linearIssue']['identifier']")"
relay job list --json >"$T/jobs.json"
check_eq "job list: newest first" "$j2 $jid" "$(json "$T/jobs.json" "' '.join(j['id'] for j in d)")"
relay job cancel "$j2"
check_eq "cancel a queued job" cancelled "$(relay job show "$j2" --json | jsonq "d['status']")"
check "cancel twice is refused" sh -c "! '$RELAY_BIN' --db '$RELAY_DB' job cancel '$j2' 2>/dev/null"
check "answer on a job that did not ask is refused" sh -c "! '$RELAY_BIN' --db '$RELAY_DB' job answer '$jid' hi 2>/dev/null"
printf '{"id":"../../evil","repositorySlug":42,"extra":{"deep":[1,2]}}' | relay job add --raw - >"$T/raw.id"
check_eq "job add --raw keeps a hostile id as-is" "../../evil" "$(cat "$T/raw.id")"
check_eq "raw job body kept as-is" '{"deep": [1, 2]}' "$(relay job show ../../evil --json | jsonq "d['job']['extra']")"
python3 -c 'import json; j = {"id": "deep63"}; o = j
for _ in range(62): o["x"] = {}; o = o["x"]
print(json.dumps(j))' >"$T/deep.json"
check "job add --raw refuses a job nested 63 deep" sh -c "! '$RELAY_BIN' --db '$RELAY_DB' job add --raw '$T/deep.json' 2>'$T/deep.err'"
check_contains "... saying why" "nested more than 32 levels" "$T/deep.err"
check "... and queues nothing" sh -c "! '$RELAY_BIN' --db '$RELAY_DB' job show deep63 >/dev/null 2>&1"
check "job add --raw refuses non-JSON" sh -c "! (echo nope | '$RELAY_BIN' --db '$RELAY_DB' job add --raw - 2>/dev/null)"

# Expiry with a moved clock: a token minted now is dead 16 minutes later.
tok=$(relay pair-token --name late)
relay_stop
DELEGO_RELAY_CLOCK_OFFSET_MS=960000 relay_start
s=$(post /api/runner/register "$tok" "{\"pairingToken\":\"$tok\",\"version\":\"1\",\"supportedExecutors\":[\"claude\"]}")
check_eq "expired token (clock +16 min): 401" 401 "$s"
check "... with an error that says it expired" sh -c "grep -q expired '$T/ans.json'"
relay_stop
tok=$(DELEGO_RELAY_CLOCK_OFFSET_MS=-840000 "$RELAY_BIN" --db "$RELAY_DB" pair-token)
relay_start
s=$(post /api/runner/register "$tok" "{\"pairingToken\":\"$tok\",\"version\":\"1\",\"supportedExecutors\":[\"claude\"]}")
check_eq "token minted 14 min ago still pairs" 200 "$s"

# Clean exit on SIGTERM and SIGINT.
kill -TERM "$RELAY_PID"; wait "$RELAY_PID"; rc=$?
check_eq "SIGTERM: exit 0" 0 "$rc"
RELAY_PID=""
relay_start
kill -INT "$RELAY_PID"; wait "$RELAY_PID"; rc=$?
check_eq "SIGINT: exit 0" 0 "$rc"
RELAY_PID=""

# A busy listen address is an error a user can act on.
relay_start
"$RELAY_BIN" serve --db "$T/other.db" --listen "127.0.0.1:$RELAY_PORT" 2>"$T/busy.err"; rc=$?
check "second relay on the same port fails" test "$rc" -ne 0
check_contains "... and names the address" "cannot listen on '127.0.0.1:$RELAY_PORT'" "$T/busy.err"
# Runner-supplied text reaches the terminal escaped: ESC (C0) and U+009B (C1, a one-character CSI).
ESC=$(printf '\033'); CSI=$(printf '\302\233')
relay_stop; RELAY_DB=$T/esc.db; RELAY_PORT=0
relay_start || exit 1
register_runner "escapes" || exit 1
post /api/runner/heartbeat "$BEARER" "{\"version\":\"1.0${ESC}[2J${CSI}31m\",\"activeJobId\":null}" >/dev/null
relay job add --raw - >/dev/null <<JSON
{"id":"esc-job","repositorySlug":"acme/app","executionPreferences":{"executor":"codex"}}
JSON
post /api/runner/jobs/poll "$BEARER" '{}' >/dev/null
post /api/runner/jobs/fail "$BEARER" "{\"jobId\":\"esc-job\",\"summary\":\"boom ${ESC}]0;pwned${ESC}\\\\ ${CSI}2J\"}" >/dev/null
relay runners >"$T/esc.runners"; relay job list >"$T/esc.list"; relay job show esc-job >"$T/esc.show"
for f in runners list show; do
	check "'$f' prints no ESC" sh -c "! grep -q '$ESC' '$T/esc.$f'"
	check "'$f' prints no U+009B" sh -c "! grep -q '$CSI' '$T/esc.$f'"
done
check_contains "the version shows its escapes as text" '1.0\x1b[2J\u009b31m' "$T/esc.runners"
check_contains "job list shows the summary's escapes as text" 'boom \x1b]0;pwned\x1b\ \u009b2J' "$T/esc.list"
check_contains "job show too" 'boom \x1b]0;pwned' "$T/esc.show"
check_eq "--json keeps the text as the runner sent it" "1.0${ESC}[2J${CSI}31m" \
	"$(relay runners --json | jsonq "[r for r in d if r['name'] == 'escapes'][0]['version']")"
done_testing
