#!/bin/sh
# Runs every test and ends with one line "N passed, N failed, N skipped".
#   unit:        each $BUILD/tests/unit/test_* (Check); its cases count.
#   integration: each tests/integration/t*.sh; its "ok"/"not ok" lines count.
# A test that cannot run here says why in a line with "# SKIP" (a bare
# "# SKIP reason" or "ok N - # SKIP reason"): each such line counts as
# skipped, not passed.
# DR_ONLY=unit|integration narrows the run; DR_TESTS="t100 t3" keeps only
# the integration tests whose names start with one of those words;
# DR_VALGRIND=1 runs the unit binaries and the programs under valgrind memcheck.
set -u
BUILD=${BUILD:-build}
export BUILD
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
passed=0
failed=0
skipped=0
logdir=$top/$BUILD/test-logs
rm -rf "$logdir"; mkdir -p "$logdir"

vg=""
if [ "${DR_VALGRIND:-0}" = 1 ]; then
	# Check's fork mode stays: valgrind follows the forked test cases, and
	# each case keeps its own environment as in a normal run.
	export DR_UNDER_VALGRIND=1
	vg="valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --track-fds=no"
fi

if [ "${DR_ONLY:-unit}" = unit ] || [ -z "${DR_ONLY:-}" ]; then
	for t in "$BUILD"/tests/unit/test_*; do
		[ -x "$t" ] || continue
		case "$t" in *.o|*.d) continue ;; esac
		name=$(basename "$t")
		log=$logdir/$name.log
		$vg "$t" >"$log" 2>&1
		rc=$?
		line=$(grep -E '^[0-9]+%: Checks: ' "$log" | tail -n 1)
		n=$(echo "$line" | sed -n 's/.*Checks: \([0-9]*\).*/\1/p')
		f=$(echo "$line" | sed -n 's/.*Failures: \([0-9]*\).*/\1/p')
		e=$(echo "$line" | sed -n 's/.*Errors: \([0-9]*\).*/\1/p')
		if [ -z "$n" ]; then
			echo "FAIL $name: no Check summary (exit $rc); see $log"
			failed=$((failed + 1))
			continue
		fi
		bad=$((f + e))
		s=$(grep -c '^# SKIP' "$log")
		if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
			bad=1 # a sanitizer or valgrind error after the cases ran
			echo "FAIL $name: exit $rc after the cases passed; see $log"
		fi
		ok=$((n - (f + e) - s))
		[ "$ok" -ge 0 ] || ok=0
		passed=$((passed + ok))
		failed=$((failed + bad))
		skipped=$((skipped + s))
		if [ "$bad" -gt 0 ]; then
			grep -E ':[EF]:' "$log" | sed "s/^/  /"
			echo "FAIL $name ($bad)"
		else
			echo "ok   $name ($n$( [ "$s" -eq 0 ] || echo ", $s skipped"))"
		fi
	done
fi

if [ "${DR_ONLY:-integration}" = integration ] || [ -z "${DR_ONLY:-}" ]; then
	for t in tests/integration/t[0-9]*.sh; do
		[ -f "$t" ] || continue
		name=$(basename "$t" .sh)
		if [ -n "${DR_TESTS:-}" ]; then
			keep=0
			for w in $DR_TESTS; do case "$name" in "$w"*) keep=1 ;; esac; done
			[ $keep = 1 ] || continue
		fi
		log=$logdir/$name.log
		DR_VG="$vg" timeout 600 sh "$t" >"$log" 2>&1
		rc=$?
		s=$(grep -c -E '^(ok [^#]*)?# SKIP' "$log")
		p=$(grep -c '^ok ' "$log")
		p=$((p - $(grep -c -E '^ok [^#]*# SKIP' "$log")))
		f=$(grep -c '^not ok ' "$log")
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			f=1
			echo "FAIL $name: exit $rc; see $log"
			tail -n 15 "$log" | sed 's/^/  | /'
		fi
		passed=$((passed + p))
		failed=$((failed + f))
		skipped=$((skipped + s))
		if [ "$f" -gt 0 ]; then
			grep '^not ok ' "$log" | sed 's/^/  /'
			echo "FAIL $name ($f of $((p + f)))"
		else
			echo "ok   $name ($p$( [ "$s" -eq 0 ] || echo ", $s skipped"))"
		fi
	done
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
