# bash completion for delego-runner                        -*- shell-script -*-

_delego_runner_profiles()
{
    local f=${DELEGO_CREDENTIALS_PATH:-${XDG_CONFIG_HOME:-$HOME/.config}/delego-runner/credentials.json}
    [[ -r $f ]] || return
    # Profile names are the keys whose value is an object, "profiles" aside.
    grep -o '"[a-z0-9][a-z0-9-]*"[[:space:]]*:[[:space:]]*{' "$f" 2>/dev/null |
        sed 's/^"\([^"]*\)".*/\1/' | grep -vx profiles
}

_delego_runner()
{
    local cur prev words cword
    _init_completion -s 2>/dev/null || {
        cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}
        words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD
    }

    local commands="pair run config service status start stop restart upgrade uninstall remove clear doctor workspace version help"
    local options="--relay-url --pairing-token --pairing-token-file --profile --workspace-root
        --git-clone-base-url --claude-command --claude-args --codex-command --codex-args
        --supported-executors --executor-timeout-ms --heartbeat-interval-ms --poll-interval-ms
        --cancellation-poll-interval-ms --safety-sync-interval-ms --fallback-poll-interval-ms
        --shutdown-grace-ms --max-jobs --no-commit --once --force --background --allow-insecure-relay
        --log-level --config --yes --json --dry-run --help --version
        --worktree-retention-days --cache-retention-days --workspace-budget-bytes --min-free-bytes --auto
        --warm-worktrees
        --containment --agent-memory-max --agent-pids-max --agent-stall-timeout-ms --agent-env --inhibit-sleep
        --sandbox --sandbox-writable --sandbox-hide --sandbox-network"

    case $prev in
        --profile)
            COMPREPLY=($(compgen -W "$(_delego_runner_profiles)" -- "$cur")); return ;;
        --workspace-root|--pairing-token-file|--config|--claude-command|--codex-command)
            COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --log-level)
            COMPREPLY=($(compgen -W "error warn info debug" -- "$cur")); return ;;
        --containment)
            COMPREPLY=($(compgen -W "auto process-group" -- "$cur")); return ;;
        --sandbox)
            COMPREPLY=($(compgen -W "auto bwrap landlock off" -- "$cur")); return ;;
        --sandbox-network)
            COMPREPLY=($(compgen -W "on off" -- "$cur")); return ;;
        --sandbox-writable|--sandbox-hide)
            COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --inhibit-sleep)
            COMPREPLY=($(compgen -W "auto on off" -- "$cur")); return ;;
        --agent-memory-max|--agent-pids-max)
            return ;;
        --agent-env)
            COMPREPLY=($(compgen -v -- "$cur")); return ;;
        --supported-executors)
            COMPREPLY=($(compgen -W "codex,claude claude,codex claude codex" -- "$cur")); return ;;
        --relay-url|--pairing-token|--git-clone-base-url|--claude-args|--codex-args|--*-ms|--max-jobs|--*-days|--*-bytes)
            return ;;
    esac

    local cmd="" i
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            -*) ;;
            *) cmd=${words[i]}; break ;;
        esac
    done

    case $cmd in
        "")
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "$options" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "$commands" -- "$cur"))
            fi ;;
        help)
            COMPREPLY=($(compgen -W "$commands" -- "$cur")) ;;
        service)
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "--profile --force --dry-run $options" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "install" -- "$cur"))
            fi ;;
        workspace)
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "--profile --dry-run --json --auto --workspace-root --worktree-retention-days
                    --cache-retention-days --workspace-budget-bytes --min-free-bytes --help" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "ls gc" -- "$cur"))
            fi ;;
        status|doctor)
            COMPREPLY=($(compgen -W "--profile --json --help" -- "$cur")) ;;
        start|stop|restart|upgrade)
            COMPREPLY=($(compgen -W "--profile --help" -- "$cur")) ;;
        uninstall|remove)
            COMPREPLY=($(compgen -W "--yes --profile --force --help" -- "$cur")) ;;
        clear)
            COMPREPLY=($(compgen -W "--yes --force --help" -- "$cur")) ;;
        *)
            COMPREPLY=($(compgen -W "$options" -- "$cur")) ;;
    esac
} &&
    complete -F _delego_runner delego-runner

# ex: filetype=sh
