# Helpers for the relay's own integration tests (t2*-relay-*.sh); sourced after lib.sh.

# post PATH BEARER JSON: POSTs to the relay; prints the HTTP status, leaves the answer in $T/ans.json.
post() {
	curl -s -o "$T/ans.json" -w '%{http_code}' -X POST "$RELAY_URL$1" \
		-H 'content-type: application/json' -H "authorization: Bearer $2" --data-binary "$3"
}
# ans EXPR: a Python expression over the last answer.
ans() { json "$T/ans.json" "$1"; }

# register_runner NAME [EXECUTORS_JSON]: mints a token and registers; sets BEARER and RID.
register_runner() {
	_t=$(relay pair-token --name "$1") || return 1
	_ex=${2:-'["claude","codex"]'}
	_s=$(post /api/runner/register "$_t" "{\"pairingToken\":\"$_t\",\"version\":\"9.9.9\",\"supportedExecutors\":$_ex}")
	[ "$_s" = 200 ] || { echo "register failed: $_s $(cat "$T/ans.json")"; return 1; }
	BEARER=$(ans "d['bearer']")
	RID=$(ans "d['runner']['id']")
}
