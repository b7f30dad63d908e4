#!/bin/sh
# bash and zsh completion: they parse, complete every command `help` lists,
# the options of a command, and the paired profile names.
. "$(dirname "$0")/lib.sh"

BASH_COMP=$TOP/packaging/completions/delego-runner.bash
ZSH_COMP=$TOP/packaging/completions/_delego-runner

if ! command -v bash >/dev/null 2>&1; then
	echo "# SKIP: bash not installed"
	done_testing
	exit 0
fi
check "the bash completion parses" bash -n "$BASH_COMP"

# complete WORDS...: what bash offers for the last word.
complete_words() {
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _delego_runner; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$BASH_COMP" "$@" | sort | paste -sd' '
}

offered=$(complete_words delego-runner "")
for c in $(runner help | sed -n '/^Commands:/,/^$/p' | awk 'NF > 1 { print $1 }'); do
	case " $offered " in *" $c "*) ok "bash completes the command $c" ;; *) not_ok "bash completes the command $c (got: $offered)" ;; esac
done
check_eq "bash completes a prefix" "service start status stop" "$(complete_words delego-runner s)"
check_eq "bash completes service's subcommand" "install" "$(complete_words delego-runner service "")"
check_eq "bash completes uninstall's options" "--yes" "$(complete_words delego-runner uninstall --y)"
check_eq "bash completes log levels" "debug" "$(complete_words delego-runner run --log-level d)"
for o in $(runner help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
	case " $(complete_words delego-runner --) " in
	*" $o "*) ok "bash knows $o" ;;
	*) not_ok "bash knows $o" ;;
	esac
done

mkdir -p "$XDG_CONFIG_HOME/delego-runner"
cat >"$XDG_CONFIG_HOME/delego-runner/credentials.json" <<'JSON'
{"version": 1, "profiles": {"default": {"relayUrl": "http://x", "runnerId": "r", "bearer": "b"},
  "work-2": {"relayUrl": "http://x", "runnerId": "r2", "bearer": "b2", "supportedExecutors": ["codex"]}}}
JSON
check_eq "bash completes profile names from the credentials file" "default work-2" \
	"$(complete_words delego-runner status --profile "")"

if command -v zsh >/dev/null 2>&1; then
	check "the zsh completion parses" zsh -n "$ZSH_COMP"
else
	echo "# zsh not installed: the zsh completion is only checked for its #compdef line"
fi
check_eq "the zsh completion declares itself for delego-runner" "#compdef delego-runner" "$(head -n 1 "$ZSH_COMP")"
for c in $(runner help | sed -n '/^Commands:/,/^$/p' | awk 'NF > 1 { print $1 }'); do
	check_contains "zsh knows the command $c" "'$c:" "$ZSH_COMP"
done

done_testing
