#!/bin/sh
# Installs the Debian packages that building and testing need, and only the
# missing ones (non-interactive). Used by `make check`, `make demo` and
# .ci/run. Extra package names may be given as arguments.
set -eu

pkgs="build-essential pkg-config git libuv1-dev libcurl4-openssl-dev libcjson-dev
      libyaml-dev check libsqlite3-dev libmicrohttpd-dev nettle-dev curl ca-certificates
      python3 procps mandoc systemd dpkg-dev debhelper bubblewrap $*"

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-deps: missing packages:$missing (no apt-get here: install them with your package manager)" >&2
	exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo="sudo"
	else
		echo "install-deps: missing packages:$missing; run as root: apt-get install$missing" >&2
		exit 1
	fi
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
