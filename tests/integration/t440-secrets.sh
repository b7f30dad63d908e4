#!/bin/sh
# Secrets stay out of reports, logs and children: an agent that repeats its
# API key has it masked in every report; the runner's bearer and DELEGO_*
# variables never reach a child; the ssh agent and GitHub tokens reach an
# agent only through --agent-env, while its model provider's variables do.
. "$(dirname "$0")/lib.sh"
job_world
bearer=$(json "$XDG_CONFIG_HOME/delego-runner/credentials.json" "d['profiles']['default']['bearer']")

id=$(relay job add --repo acme/app --executor claude --identifier SEC-1 --prompt "scenario=leak-env var=ANTHROPIC_API_KEY")
ANTHROPIC_API_KEY=sk-ant-api03-VERYSECRETVALUE DELEGO_PROBE=delego-only SSH_AUTH_SOCK=/tmp/ssh-probe.sock \
	GH_TOKEN=ghp_probe_not_for_agents \
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
check_not_contains "the agent did not get the ssh agent" "ssh-probe.sock" "$HOME/fake-agent-calls.jsonl"
check_not_contains "nor the GitHub token" "ghp_probe_not_for_agents" "$HOME/fake-agent-calls.jsonl"

# --agent-env passes or sets more; Bedrock and toolchain variables pass by default.
agent_env() { python3 -c "import json,sys; print([json.loads(l) for l in open(sys.argv[1])][-1]['env'].get(sys.argv[2], '-'))" "$HOME/fake-agent-calls.jsonl" "$1"; }
id=$(relay job add --repo acme/app --executor claude --identifier SEC-2 --prompt "scenario=leak-env var=MY_API_KEY")
AWS_REGION=eu-west-1 AWS_SECRET_ACCESS_KEY=aws-probe-secret CLOUD_ML_REGION=us-east5 JAVA_HOME=/opt/jdk \
	SSH_AUTH_SOCK=/tmp/ssh-probe.sock GH_TOKEN=ghp_probe_not_for_agents GITHUB_TOKEN=ghp_probe_two \
	runner run --once --workspace-root "$T/ws" --git-clone-base-url "$T/remotes" --log-level debug \
	--agent-env SSH_AUTH_SOCK --agent-env MY_API_KEY=sk-set-by-flag-SECRETVALUE --agent-env DEBUG_LEVEL=2 >"$T/run2.log" 2>&1
check_eq "the second job ran" 0 $?
relay job show "$id" --json >"$T/job2.json"
check_eq "the second job completed" completed "$(json "$T/job2.json" "d['status']")"
check_eq "AWS_REGION reached the agent" eu-west-1 "$(agent_env AWS_REGION)"
check_eq "AWS credentials too" aws-probe-secret "$(agent_env AWS_SECRET_ACCESS_KEY)"
check_eq "CLOUD_ML_REGION too" us-east5 "$(agent_env CLOUD_ML_REGION)"
check_eq "JAVA_HOME too" /opt/jdk "$(agent_env JAVA_HOME)"
check_eq "the named SSH_AUTH_SOCK passed" /tmp/ssh-probe.sock "$(agent_env SSH_AUTH_SOCK)"
check_eq "a variable set with --agent-env" 2 "$(agent_env DEBUG_LEVEL)"
check_eq "an unnamed GitHub token stayed out" - "$(agent_env GITHUB_TOKEN)"
check_eq "GH_TOKEN too" - "$(agent_env GH_TOKEN)"
check_not_contains "a secret set with --agent-env is not in any report" "sk-set-by-flag-SECRETVALUE" "$T/requests.jsonl"
check_contains "it is masked in the reply" "My MY_API_KEY is [redacted]." "$T/job2.json"
runner config --agent-env MY_API_KEY=sk-set-by-flag-SECRETVALUE --agent-env SSH_AUTH_SOCK >"$T/config.txt" 2>&1
check_contains "config shows --agent-env" "MY_API_KEY=********, SSH_AUTH_SOCK" "$T/config.txt"
check_not_contains "with the secret value masked" "SECRETVALUE" "$T/config.txt"
runner run --once --agent-env DELEGO_BEARER >"$T/run3.log" 2>&1
check_eq "--agent-env refuses DELEGO_* names (usage error)" 64 $?
done_testing
