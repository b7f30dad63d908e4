#!/bin/sh
# delego-relay's push feed, over real sockets: each join's events carry that
# join's own ids (two subscribers, and a re-join); a removed or rotated
# runner loses its sockets at once and its tokens no longer connect, join or
# refresh.
. "$(dirname "$0")/lib.sh"

relay_start || exit 1

# rt_token BEARER: a realtime token for that runner.
rt_token() { post /api/runner/realtime-token "$1" '{}' >/dev/null && ans "d['token']"; }
register_runner "push a" || exit 1; BA=$BEARER; RA=$RID; TA=$(rt_token "$BA")
register_runner "push b" || exit 1; BB=$BEARER; RB=$RID; TB=$(rt_token "$BB")
register_runner "push c" || exit 1; BC=$BEARER; TC=$(rt_token "$BC")
TOPIC=realtime:runner-account-$(python3 -c 'import base64,json,sys; p=sys.argv[1].split(".")[1]; print(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["sub"])' "$TA")

mkfifo "$T/ws.in"
python3 "$FIXTURES/realtime/relay_ws.py" "$RELAY_URL" "$TA" <"$T/ws.in" >"$T/ws.out" 2>"$T/ws.err" &
track_pid $!
exec 3>"$T/ws.in"
# ws COMMAND...: sends one command to the client and prints its one-line answer.
ws() {
	_n=$(($(wc -l <"$T/ws.out") + 1))
	echo "$*" >&3
	wait_for 15 sh -c "[ \$(wc -l <'$T/ws.out') -ge $_n ]" || { echo "timeout"; return; }
	sed -n "${_n}p" "$T/ws.out"
}

check_eq "a connects" "status a 101" "$(ws connect a "$TA")"
check_eq "b connects" "status b 101" "$(ws connect b "$TB")"
ja=$(ws join a "$TOPIC"); jb=$(ws join b "$TOPIC")
ida=${ja##* }; idb=${jb##* }
check_eq "a joins" "joined a ok" "${ja% *}"
check_eq "b joins" "joined b ok" "${jb% *}"
check "the two joins got different ids ($ida, $idb)" test "$ida" != "$idb"

relay job add --repo acme/app --executor codex >/dev/null
check_eq "a's INSERT carries a's ids" "event a INSERT $ida" "$(ws event a)"
check_eq "b's INSERT carries b's ids" "event b INSERT $idb" "$(ws event b)"

# A runner that re-joins (as a restarted client does) gets its new join's ids.
ws leave a >/dev/null
ja2=$(ws join a "$TOPIC"); ida2=${ja2##* }
check "the re-join got a new id ($ida2)" test "$ida2" != "$ida" -a "$ida2" != "$idb"
relay job add --repo acme/app --executor codex >/dev/null
check_eq "after the re-join, a's INSERT carries its new ids" "event a INSERT $ida2" "$(ws event a)"
check_eq "b still gets its own ids" "event b INSERT $idb" "$(ws event b)"

# Removal (by the CLI, another process) closes the runner's socket at once.
relay remove "$RA" 2>/dev/null
check_eq "removing runner a closes its socket" "closed a closed" "$(ws closed a)"
check_eq "a removed runner's token no longer connects" "status a2 401" "$(ws connect a2 "$TA")"
relay job add --repo acme/app --executor codex >/dev/null
check_eq "b is unaffected" "event b INSERT $idb" "$(ws event b)"

# A socket of a live runner cannot be extended with a dead runner's token.
check_eq "c connects" "status c 101" "$(ws connect c "$TC")"
jc=$(ws join c "$TOPIC")
check_eq "c joins" "joined c ok" "${jc% *}"
ws refresh c "$TA" >/dev/null
check_eq "refreshing with a removed runner's token ends the socket" "closed c closed" "$(ws closed c)"

# A join with a dead runner's token, on a socket opened with a live one, is refused.
check_eq "c2 connects" "status c2 101" "$(ws connect c2 "$TC")"
check_eq "joining with a removed runner's access_token is refused" "error" \
	"$(ws join c2 "$TOPIC" "$TA" | awk '{print $3}')"

# Rotation kills the credential: the socket closes, the token is dead even after re-pairing.
newtok=$(relay rotate "$RB")
check_eq "rotating runner b closes its socket" "closed b closed" "$(ws closed b)"
check_eq "a rotated runner's old token no longer connects" "status b2 401" "$(ws connect b2 "$TB")"
s=$(post /api/runner/register "$newtok" "{\"pairingToken\":\"$newtok\",\"version\":\"9.9.9\"}")
check_eq "b re-pairs" 200 "$s"
check_eq "... and its pre-rotation token stays dead" "status b3 401" "$(ws connect b3 "$TB")"
TB2=$(rt_token "$(ans "d['bearer']")")
check_eq "a token minted after re-pairing connects" "status b4 101" "$(ws connect b4 "$TB2")"

exec 3>&-
done_testing
