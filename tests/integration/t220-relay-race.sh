#!/bin/sh
# delego-relay: two runners racing for jobs never get the same job.
. "$(dirname "$0")/lib.sh"

relay_start || exit 1
register_runner one; BA=$BEARER
register_runner two; BB=$BEARER

poll_to() { # poll_to BEARER FILE
	curl -s -o "$2" -X POST "$RELAY_URL/api/runner/jobs/poll" -H "authorization: Bearer $1" \
		-H 'content-type: application/json' -d '{"supportedExecutors":["claude","codex"]}'
}

# 20 rounds: one job, two concurrent polls.
bad=0
round=1
while [ $round -le 20 ]; do
	jid=$(relay job add --repo acme/race)
	poll_to "$BA" "$T/a.$round" & pa=$!
	poll_to "$BB" "$T/b.$round" & pb=$!
	wait $pa $pb
	got=$(python3 -c "
import json,sys
ids=[json.load(open(f))['job'] for f in sys.argv[1:]]
print(sum(1 for j in ids if j and j['id']=='$jid'), sum(1 for j in ids if j is None))" "$T/a.$round" "$T/b.$round")
	[ "$got" = "1 1" ] || { bad=$((bad + 1)); echo "# round $round: $got"; }
	round=$((round + 1))
done
check_eq "20 rounds of two concurrent polls: one job, one runner each time" 0 "$bad"

# A burst: 30 queued jobs, both runners polling as fast as they can, in parallel.
i=0; while [ $i -lt 30 ]; do relay job add --repo acme/burst >/dev/null; i=$((i + 1)); done
burst() { # burst BEARER PREFIX
	n=0; while [ $n -lt 25 ]; do poll_to "$1" "$T/$2.$n"; n=$((n + 1)); done
}
burst "$BA" pa & p1=$!
burst "$BB" pb & p2=$!
burst "$BA" qa & p3=$!
wait $p1 $p2 $p3
check "burst: every job claimed exactly once, none lost" python3 -c "
import json,glob,collections
ids=[]
for f in glob.glob('$T/p[ab].*')+glob.glob('$T/qa.*'):
    j=json.load(open(f))['job']
    if j: ids.append(j['id'])
c=collections.Counter(ids)
dups=[k for k,v in c.items() if v>1]
assert not dups, dups
assert len(ids)==30, len(ids)"
check_eq "relay: 50 jobs running, none queued" "50 0" "$(relay job list --json | jsonq "str(sum(j['status']=='running' for j in d))+' '+str(sum(j['status']=='queued' for j in d))")"
check_eq "every claim recorded once" 50 "$(relay job list --json | jsonq "len(set(j['id'] for j in d if j['runnerId']))")"
done_testing
