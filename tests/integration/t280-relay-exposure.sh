#!/bin/sh
# delego-relay against local attackers: the request log is 0600; --url-file
# never follows a planted symlink; the panel carries a Content-Security-Policy;
# a Host that is not ours (DNS rebinding) is refused; 1,010 connections held
# from 127.0.0.1 neither lock out 127.0.0.2 nor stay open past the idle timeout.
. "$(dirname "$0")/lib.sh"
umask 022

# --url-file through a symlink planted at the old predictable name (path.tmp.PID):
# `exec` keeps the pid, so the plant is exactly where the old code wrote.
echo "precious" >"$T/victim"
sh -c 'ln -s "$1" "$2.tmp.$$"; exec "$3" serve --db "$4" --listen 127.0.0.1:0 --url-file "$2" --request-log "$5"' \
	sh "$T/victim" "$T/relay.url" "$RELAY_BIN" "$RELAY_DB" "$T/requests.jsonl" >>"$T/relay.log" 2>&1 &
RELAY_PID=$!
track_pid $RELAY_PID
wait_for 10 test -s "$T/relay.url" || { cat "$T/relay.log"; exit 1; }
RELAY_URL=$(cat "$T/relay.url"); RELAY_PORT=${RELAY_URL##*:}
check_eq "a symlink planted at the temporary name is not followed" precious "$(cat "$T/victim")"
check "the URL file is a plain file" test -f "$T/relay.url" -a ! -L "$T/relay.url"
check_eq "no temporary file is left" 0 "$(ls "$T" | grep -c 'relay\.url\.tmp-')"
check_eq "the request log is created 0600" 600 "$(stat -c %a "$T/requests.jsonl")"

# The panel: self only.
curl -s -D "$T/panel.h" -o /dev/null "$RELAY_URL/"
check_contains "the panel is served with a Content-Security-Policy" "content-security-policy: default-src 'self'" \
	"$(tr 'A-Z' 'a-z' <"$T/panel.h" >"$T/panel.lc"; echo "$T/panel.lc")"
check_contains "... that lets no other site frame it" "frame-ancestors 'none'" "$T/panel.lc"

# DNS rebinding: another name resolving to 127.0.0.1 sends its own Host.
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
ADMIN=$(relay admin-token)
check_eq "Host: evil.example is refused" 421 "$(code -H "Host: evil.example:$RELAY_PORT" "$RELAY_URL/healthz")"
check_eq "... on the admin API too, even with the admin token" 421 \
	"$(code -H "Host: evil.example:$RELAY_PORT" -H "authorization: Bearer $ADMIN" "$RELAY_URL/api/admin/state")"
check_eq "... and on the panel" 421 "$(code -H "Host: rebind.127.0.0.1.nip.io:$RELAY_PORT" "$RELAY_URL/")"
check_eq "Host: 127.0.0.1 is served" 200 "$(code "$RELAY_URL/healthz")"
check_eq "Host: localhost is served" 200 "$(code -H "Host: localhost:$RELAY_PORT" "$RELAY_URL/healthz")"
check_eq "the admin API answers with our own Host" 200 \
	"$(code -H "authorization: Bearer $ADMIN" "$RELAY_URL/api/admin/state")"
relay_stop

# --public-url's host is ours too.
rm -f "$T/relay.url"
relay_start --public-url "http://relay.example.test:8420" || exit 1
check_eq "the --public-url host is served" 200 "$(code -H "Host: relay.example.test:8420" "$RELAY_URL/healthz")"
check_eq "another host still is not" 421 "$(code -H "Host: evil.example" "$RELAY_URL/healthz")"
relay_stop

# 1,010 half-sent requests from 127.0.0.1, while 127.0.0.2 asks /healthz.
ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -H -n)" 2>/dev/null
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 1100 ]; then
	echo "# SKIP connection cap: the fd limit is $(ulimit -n) (< 1100) and cannot be raised"
	done_testing; exit
fi
if ! python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.2", 0))' 2>/dev/null; then
	echo "# SKIP connection cap: 127.0.0.2 is not a local address here"
	done_testing; exit
fi
rm -f "$T/relay.url"
"$RELAY_BIN" serve --db "$RELAY_DB" --listen 0.0.0.0:0 --url-file "$T/relay.url" >>"$T/relay.log" 2>&1 &
RELAY_PID=$!
track_pid $RELAY_PID
wait_for 10 test -s "$T/relay.url" || { cat "$T/relay.log"; exit 1; }
RELAY_PORT=$(sed 's/.*://' "$T/relay.url")
python3 - "$RELAY_PORT" "$T/hold" <<'PY' &
import os, select, socket, sys, time
port, out = int(sys.argv[1]), sys.argv[2]
socks = []
for i in range(1010):
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        socks.append(s)
    except OSError:
        s.close()
def open_count():
    n = 0
    for s in socks:
        r, _, _ = select.select([s], [], [], 0)
        if not r:
            n += 1
            continue
        try:
            if s.recv(1, socket.MSG_PEEK):
                n += 1
        except OSError:
            pass
    return n
# Connections still in the listen queue look open until the relay accepts
# (and, past the cap, closes) them: give it a few seconds, well inside the
# 10 s idle timeout.
deadline = time.time() + 5
held = open_count()
while held > 64 and time.time() < deadline:
    time.sleep(0.2)
    held = open_count()
with open(out + ".tmp", "w") as f:
    f.write("%d %d\n" % (len(socks), held))
os.rename(out + ".tmp", out)
time.sleep(14)
with open(out + ".later.tmp", "w") as f:
    f.write("%d\n" % open_count())
os.rename(out + ".later.tmp", out + ".later")
PY
track_pid $!
wait_for 60 test -s "$T/hold" || { not_ok "the client held its connections"; done_testing; exit 1; }
held=$(cut -d' ' -f2 "$T/hold")
echo "# connections: $(cut -d' ' -f1 "$T/hold") made from 127.0.0.1, $held still open"
check "127.0.0.1 holds at most 64 connections (holds $held)" test "$held" -le 64
t0=$(date +%s%N)
s=$(code --max-time 5 --interface 127.0.0.2 "http://127.0.0.2:$RELAY_PORT/healthz")
t1=$(date +%s%N)
check_eq "127.0.0.2 is still served /healthz" 200 "$s"
echo "# /healthz from 127.0.0.2 answered in $(( (t1 - t0) / 1000000 )) ms"
wait_for 30 test -s "$T/hold.later" || not_ok "the client looked again"
check_eq "the half-sent requests are cut off after the idle timeout" 0 "$(cat "$T/hold.later")"
check "the refusals do not flood the relay's log ($(wc -l <"$T/relay.log") lines)" test "$(wc -l <"$T/relay.log")" -lt 50
done_testing
