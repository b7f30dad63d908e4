#!/bin/sh
# Agent start overhead of each sandbox mode: the median (and p90) of 50
# spawns (BENCH_SPAWNS) of a trivial agent (`true`) through proc, as the
# pipeline starts agents, against `off`; and the resident memory of what
# the sandbox leaves running beside an agent (bwrap's monitor and init;
# Landlock leaves nothing: the shim execs the agent).
# Targets (issue 13): at most 10 ms over off for bwrap, 2 ms for Landlock. The
# children's CPU time per spawn is printed too: wall time on a busy machine is worth little.
set -u
. "$(dirname "$0")/../integration/lib.sh"
n=${BENCH_SPAWNS:-50}

git init -q --bare -b main "$T/src.git"
git init -q -b main "$T/seed"
(cd "$T/seed" && echo hi >README.md && git add . && git commit -q -m init && git push -q "$T/src.git" main)
git --git-dir "$T/src.git" worktree add -q "$T/wt" main
cc -std=c11 -D_GNU_SOURCE -I"$TOP/include" "$TOP/tests/bench/sandbox_spawn.c" "$B/libdelego.a" \
	$(pkg-config --libs libuv libcurl libcjson yaml-0.1) -o "$T/spawn" || { echo "cannot build the harness"; exit 1; }
for m in off landlock bwrap; do
	"$T/spawn" "$m" "$B/delego-runner-exec" "$n" "$T/wt" "$T/src.git" || echo "RESULT sandbox=$m not measured here"
done
echo "load average: $(cat /proc/loadavg)"
