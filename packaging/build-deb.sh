#!/bin/sh
# Builds the .deb from a copy of the work tree (what git does not ignore),
# with packaging/debian as ./debian; checks it with lintian when installed;
# unpacks it into a scratch root with dpkg -x and runs `delego-runner
# --version` from there. The .deb lands in $1 (default build-deb-out/).
# Needs dpkg-dev and debhelper (packaging/install-deps.sh installs them).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build-deb-out}
case $out in /*) ;; *) out=$PWD/$out ;; esac
for tool in dpkg-buildpackage dh; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "build-deb: $tool not found: apt-get install dpkg-dev debhelper" >&2
		exit 69
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/dr-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/delego-runner"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
	# The work tree as it is (tracked and new files), without what git ignores (build dirs).
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
		tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -C "$work/delego-runner" -xf -
else
	tar -C "$top" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$work/delego-runner" -xf -
fi
cp -R "$top/packaging/debian" "$work/delego-runner/debian"

echo "build-deb: building in $work"
(cd "$work/delego-runner" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1 || {
	tail -n 40 "$work/build.log" >&2
	echo "build-deb: dpkg-buildpackage failed" >&2
	exit 1
}
deb=$(ls "$work"/delego-runner_*.deb)
mkdir -p "$out"
cp "$deb" "$out/"
deb=$out/$(basename "$deb")
echo "build-deb: built $deb"

if command -v lintian >/dev/null 2>&1; then
	lintian --fail-on error --suppress-tags-from-file /dev/null "$deb" || {
		echo "build-deb: lintian found errors" >&2
		exit 1
	}
fi

root=$work/root
dpkg -x "$deb" "$root"
"$root/usr/bin/delego-runner" --version
