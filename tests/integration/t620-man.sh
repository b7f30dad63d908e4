#!/bin/sh
# The man pages: render without warnings, the SYNOPSIS says what `help`
# says, every option, command and config key is documented, and
# `make install` installs them.
. "$(dirname "$0")/lib.sh"

MAN1=$TOP/man/delego-runner.1
MAN5=$TOP/man/delego-runner.yaml.5
MAN8=$TOP/man/delego-relay.8
MAN7=$TOP/man/delego-runner-protocol.7

if command -v mandoc >/dev/null 2>&1; then
	for m in "$MAN1" "$MAN5" "$MAN7" "$MAN8"; do
		mandoc -Tlint -W warning "$m" >"$T/lint" 2>&1
		check_eq "mandoc -Tlint: $(basename "$m") has no warning" "" "$(cat "$T/lint")"
	done
	render() { mandoc -Tascii -O width=400 "$1" | col -bx; }
elif command -v groff >/dev/null 2>&1; then
	echo "# mandoc not installed (apt-get install mandoc): linting with groff"
	for m in "$MAN1" "$MAN5" "$MAN7" "$MAN8"; do
		groff -mdoc -Tascii -ww -z "$m" >"$T/lint" 2>&1
		check_eq "groff -ww: $(basename "$m") has no warning" "" "$(cat "$T/lint")"
	done
	render() { groff -mdoc -Tascii -rLL=400n "$1" 2>/dev/null | col -bx; }
else
	echo "# SKIP: neither mandoc nor groff is installed (apt-get install mandoc)"
	done_testing
	exit 0
fi
if command -v man >/dev/null 2>&1; then
	MANWIDTH=80 man --warnings -l "$MAN1" >/dev/null 2>"$T/manwarn"
	check_eq "man -l renders delego-runner(1) without warnings" "" "$(cat "$T/manwarn")"
fi

render "$MAN1" | tr -s ' \t' ' ' >"$T/man1.txt"
render "$MAN5" | tr -s ' \t' ' ' >"$T/man5.txt"
sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' "$T/man1.txt" >"$T/synopsis.txt"

# Every command of `help`, and its usage line word for word.
runner help >"$T/help.txt"
cmds=$(sed -n '/^Commands:/,/^$/p' "$T/help.txt" | awk 'NF > 1 { print $1 }')
check "help lists commands" test -n "$cmds"
for c in $cmds; do
	if [ "$c" = help ] || [ "$c" = version ]; then
		check_contains "SYNOPSIS has $c" "delego-runner $c" "$T/synopsis.txt"
		continue
	fi
	u=$(runner help "$c" | sed -n '1s/^usage: //p' | tr -s ' ')
	check_contains "SYNOPSIS matches the usage of $c" " $u" "$T/synopsis.txt"
done

# Every option of --help, and every DELEGO_* variable, in delego-runner(1).
for o in $(grep -o -- '--[a-z][a-z-]*' "$T/help.txt" | sort -u); do
	check_contains "delego-runner(1) documents $o" "$o" "$T/man1.txt"
done
for v in $(grep -o 'DELEGO_[A-Z_]*' "$T/help.txt" | sort -u) DELEGO_CREDENTIALS_PATH; do
	check_contains "delego-runner(1) documents $v" "$v" "$T/man1.txt"
done
for s in 0 1 2 64 69 73 75 76 78; do
	grep -q "^ *$s " "$T/man1.txt" || grep -q "^ $s$" "$T/man1.txt"
	check_eq "delego-runner(1) documents exit status $s" 0 $?
done

# Every key `config` shows that a file may set, in delego-runner.yaml(5), with its default.
runner config >"$T/config.txt"
for k in $(awk '{ print $1 }' "$T/config.txt"); do
	case $k in pairing-token|config|credentials|state-dir) continue ;; esac
	check_contains "delego-runner.yaml(5) documents $k" " $k " "$T/man5.txt"
done
check_contains "delego-runner.yaml(5) documents profiles:" "profiles" "$T/man5.txt"

# delego-runner-protocol(7) names every call the runner makes (lib/relay.c's paths).
render "$MAN7" | tr -s ' \t' ' ' >"$T/man7.txt"
for c in $(grep -o '"/api/runner/[a-z/-]*"' "$TOP"/lib/*.c "$TOP"/cmd/delego-runner/*.c | sed 's/.*"\/api\/runner\/\(.*\)"/\1/' | sort -u); do
	check_contains "delego-runner-protocol(7) documents $c" "$c" "$T/man7.txt"
done

# delego-relay(8) covers the relay's commands.
if [ -x "$RELAY_BIN" ]; then
	render "$MAN8" | tr -s ' \t' ' ' >"$T/man8.txt"
	for c in serve admin-token pair-token runners rotate remove restart "job add" "job list" settings \
		--online-seconds --stale-seconds --public-url --request-log; do
		check_contains "delego-relay(8) documents $c" "$c" "$T/man8.txt"
	done
fi

# make install puts them where man looks.
make -C "$TOP" --no-print-directory BUILD="$BUILD" DESTDIR="$T/dest" PREFIX=/usr install >"$T/install.log" 2>&1
check_eq "make install succeeds" 0 $?
check "it installs delego-runner.1" test -f "$T/dest/usr/share/man/man1/delego-runner.1"
check "it installs delego-runner.yaml.5" test -f "$T/dest/usr/share/man/man5/delego-runner.yaml.5"
check "it installs delego-relay.8" test -f "$T/dest/usr/share/man/man8/delego-relay.8"
check "it installs delego-runner-protocol.7" test -f "$T/dest/usr/share/man/man7/delego-runner-protocol.7"

done_testing
