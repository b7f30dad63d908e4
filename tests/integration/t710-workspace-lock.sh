#!/bin/sh
# The cross-process lock on a source cache: two runner processes (two
# profiles) on one workspace never run git on the same cache at once; a
# job waits for a cache another process holds (without blocking its loop:
# it still heartbeats) and then succeeds; gc --auto skips a held cache; a
# runner killed while it holds the lock leaves no lock and no file behind.
. "$(dirname "$0")/lib.sh"
WS=$T/ws
CACHE=$WS/sources/acme/app.git

if ! command -v flock >/dev/null 2>&1; then
	echo "# SKIP: flock(1) not installed (util-linux)"
	done_testing
	exit 0
fi

# A git that records when each fetch starts and ends (and who ran it), and
# takes FETCH_SLEEP seconds over it: overlapping fetches would show.
REAL_GIT=$(command -v git)
mkdir -p "$T/slowbin"
cat >"$T/slowbin/git" <<EOF
#!/bin/sh
case " \$* " in
*" fetch "*)
	echo "start \$PPID \$(date +%s.%N)" >>"$T/fetches.log"
	echo \$\$ >"$T/fetch.pid"
	sleep \$(cat "$T/fetch-sleep" 2>/dev/null || echo 0)
	"$REAL_GIT" "\$@"; rc=\$?
	echo "end \$PPID \$(date +%s.%N)" >>"$T/fetches.log"
	exit \$rc ;;
esac
exec "$REAL_GIT" "\$@"
EOF
chmod +x "$T/slowbin/git"
export PATH="$T/slowbin:$FIXTURES/bin:$PATH"

relay_start || exit 1
pair_runner || { not_ok "pairing"; done_testing; exit 1; }
tok=$(relay pair-token --name "second runner")
runner pair --profile two --relay-url "$RELAY_URL" --pairing-token "$tok" >/dev/null 2>&1
check_eq "a second profile is paired" 0 $?
git init -q --bare -b main "$T/remotes/acme/app.git"
git init -q -b main "$T/seed"
(cd "$T/seed" && echo hello > README.md && git add . && git commit -q -m initial && git push -q "$T/remotes/acme/app.git" main)

run_once() {
	_log=$1; shift
	timeout 120 $DR_VG "$RUNNER_BIN" run --once --workspace-root "$WS" --git-clone-base-url "$T/remotes" "$@" >"$_log" 2>&1
}
job() { relay job add --repo acme/app --executor claude --identifier "$1" --prompt "scenario=edit" --auto-push; }
status_of() { relay job show "$1" --json | jsonq "d['status']"; }

# 1. The first job clones the cache; nothing but git's own files is in it.
first=$(job L-1)
run_once "$T/first.log"
check_eq "a first job completes" completed "$(status_of "$first")"
check_eq "no lock file is left in the workspace" "" "$(find "$WS" -name '*lock*' | head -n 1)"

# 2. Two runner processes, two jobs on the same cache, each fetch 1.5 s: the fetches never overlap.
echo 1.5 >"$T/fetch-sleep"
: >"$T/fetches.log"
a=$(job L-2); b=$(job L-3)
run_once "$T/a.log" &
pa=$!
track_pid $pa
run_once "$T/b.log" --profile two &
pb=$!
track_pid $pb
wait $pa; wait $pb
check_eq "both jobs complete" "completed completed" "$(status_of "$a") $(status_of "$b")"
check_eq "two fetches ran" 2 "$(grep -c '^start' "$T/fetches.log")"
check_eq "one after the other, never at once" "start end start end" "$(awk '{ print $1 }' "$T/fetches.log" | paste -sd' ')"
check "by two processes" test "$(awk '/^start/ { print $2 }' "$T/fetches.log" | sort -u | wc -l)" -eq 2

# 3. Another process holds the cache: the job waits for it, then completes.
echo 0 >"$T/fetch-sleep"
c=$(job L-4)
flock "$CACHE" sleep 3 &
holder=$!
track_pid $holder
sleep 0.3
t0=$(date +%s.%N)
run_once "$T/c.log" --log-level debug
t1=$(date +%s.%N)
check_eq "the job completes once the lock is free" completed "$(status_of "$c")"
check "it waited for the other process" python3 -c "import sys; sys.exit(0 if $t1 - $t0 >= 2.3 else 1)"
check_contains "it says it waited" "is locked by another process; waiting" "$T/c.log"
wait $holder

# 4. gc --auto does not wait for a held cache: it skips it and says so.
flock "$CACHE" sleep 5 &
holder=$!
track_pid $holder
sleep 0.3
t0=$(date +%s)
runner workspace gc --auto --json --worktree-retention-days 0 --workspace-root "$WS" >"$T/auto.json"
t1=$(date +%s)
check "gc --auto returns within seconds" test $((t1 - t0)) -le 4
check_eq "it removed nothing" "" "$(json "$T/auto.json" "' '.join(i['path'] for i in d['items'] if i['removed'])")"
check_contains "it says the cache was busy" "another process holds the lock on its source cache" "$T/auto.json"
kill $holder 2>/dev/null; wait $holder 2>/dev/null

# 5. A runner killed (SIGKILL) in the middle of a fetch, holding the lock: the kernel drops it.
echo 30 >"$T/fetch-sleep"
rm -f "$T/fetch.pid"
d=$(job L-5)
runner_bg "$T/killed.log" run --once --workspace-root "$WS" --git-clone-base-url "$T/remotes"
check "the runner is fetching" wait_for 20 test -s "$T/fetch.pid"
check "it holds the cache's lock" sh -c "! flock -n '$CACHE' true"
kill -9 "$RUNNER_PID"
wait "$RUNNER_PID" 2>/dev/null
check "the lock is free once the runner is dead" wait_for 5 flock -n "$CACHE" true
kill "$(cat "$T/fetch.pid")" 2>/dev/null
echo 0 >"$T/fetch-sleep"
t0=$(date +%s)
runner workspace gc --worktree-retention-days 0 --workspace-root "$WS" >"$T/after-kill.txt" 2>&1
t1=$(date +%s)
check "gc gets the cache at once" test $((t1 - t0)) -le 5
check_not_contains "and does not find it busy" "another process holds the lock" "$T/after-kill.txt"
check_contains "it removed the finished worktrees" "removed worktrees/acme/app/$first" "$T/after-kill.txt"

done_testing
