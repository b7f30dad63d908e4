#!/bin/sh
# make demo's script end to end: relay, pairing, a job to a pushed commit, clean shutdown.
. "$(dirname "$0")/lib.sh"
BUILD=$B sh "$TOP/tests/demo.sh" >"$T/demo.out" 2>&1
check_eq "the demo exits 0" 0 $?
check_contains "the job completed" "status:   completed" "$T/demo.out"
check_contains "the commit names the issue" "DEMO-1: Add a greeting" "$T/demo.out"
check_contains "the branch reached the upstream" "upstream has delego/demo-1-" "$T/demo.out"
check_contains "the panel URL is printed" "/#token=dra_" "$T/demo.out"
check_contains "the runner stopped cleanly" "runner exited 0" "$T/demo.out"
done_testing
