#!/bin/sh
# Secrets stay out of reports, logs and children: an agent that repeats its
# API key has it masked in every report; the runner's bearer and DELEGO_*
# variables never reach a child.
. "$(dirname "$0")/lib.sh"
job_world
bearer=$(json "$XDG_CONFIG_HOME/delego-runner/credentials.json" "d['profiles']['default']['bearer']")

id=$(relay job add --repo acme/app --executor claude --identifier SEC-1 --prompt "scenario=leak-env var=ANTHROPIC_API_KEY")
ANTHROPIC_API_KEY=sk-ant-api03-VERYSECRETVALUE DELEGO_PROBE=delego-only \
	runner run --once --workspace-root "$T/ws" --git-clone-base-url "$T/remotes" --log-level debug >"$T/run.log" 2>&1
check_eq "the job ran" 0 $?
relay job show "$id" --json >"$T/job.json"
check_eq "the job completed" completed "$(json "$T/job.json" "d['status']")"
check_eq "the agent got its own key" true "$(python3 -c "import json; print(str(any(c['env'].get('ANTHROPIC_API_KEY') == 'sk-ant-api03-VERYSECRETVALUE' for c in map(json.loads, open('$HOME/fake-agent-calls.jsonl')))).lower())")"
check_not_contains "the key is not in any report the relay got" "VERYSECRETVALUE" "$T/requests.jsonl"
check_contains "it is masked in the reply" "My ANTHROPIC_API_KEY is [redacted]." "$T/job.json"
check_not_contains "the key is not in the runner's log" "VERYSECRETVALUE" "$T/run.log"
check_not_contains "the bearer is not in the runner's log" "$bearer" "$T/run.log"
check_not_contains "no child saw the bearer" "$bearer" "$HOME/fake-agent-calls.jsonl"
check_not_contains "no child saw DELEGO_* variables" "delego-only" "$HOME/fake-agent-calls.jsonl"
done_testing
