#!/bin/sh
# The Debian package: packaging/build-deb.sh builds it from a copy of the
# tree, lints it when lintian is there, unpacks it into a scratch root and
# runs delego-runner --version from it. Skips without dpkg-buildpackage and
# debhelper.
. "$(dirname "$0")/lib.sh"

for tool in dpkg-buildpackage dh dpkg-deb; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "# SKIP: $tool not installed (apt-get install dpkg-dev debhelper)"
		done_testing
		exit 0
	fi
done

sh "$TOP/packaging/build-deb.sh" "$T/out" >"$T/build.out" 2>&1
rc=$?
check_eq "build-deb.sh builds, lints and runs the package" 0 $rc
[ $rc -eq 0 ] || tail -n 30 "$T/build.out"
check_contains "the unpacked binary prints its version" "delego-runner 0.9.0" "$T/build.out"
deb=$(ls "$T"/out/delego-runner_*.deb 2>/dev/null | head -n 1)
check "a .deb is left in the output folder" test -f "$deb"
[ -f "$deb" ] || { done_testing; exit 1; }
dpkg-deb -c "$deb" | awk '{ print $6 }' >"$T/contents"
for f in ./usr/bin/delego-runner ./usr/bin/delego-runner-exec ./usr/bin/delego-relay ./lib/systemd/system/delego-runner@.service \
	./usr/lib/sysusers.d/delego-runner.conf ./usr/lib/tmpfiles.d/delego-runner.conf \
	./etc/delego-runner/config.yaml ./usr/share/man/man1/delego-runner.1.gz \
	./usr/share/man/man5/delego-runner.yaml.5.gz ./usr/share/man/man7/delego-runner-protocol.7.gz \
	./usr/share/man/man8/delego-relay.8.gz \
	./usr/share/bash-completion/completions/delego-runner ./usr/share/zsh/vendor-completions/_delego-runner; do
	check "the package holds $f" grep -qxF "$f" "$T/contents"
done
dpkg-deb -x "$deb" "$T/root"
check_contains "the packaged unit runs /usr/bin/delego-runner" "ExecStart=/usr/bin/delego-runner run --profile %i" \
	"$T/root/lib/systemd/system/delego-runner@.service"
dpkg-deb -e "$deb" "$T/control"
check_contains "postinst creates the system user" "systemd-sysusers" "$T/control/postinst"
check_contains "postinst creates the directories" "systemd-tmpfiles" "$T/control/postinst"
check_eq "/etc/delego-runner/config.yaml is a conffile" /etc/delego-runner/config.yaml "$(cat "$T/control/conffiles")"
check_contains "it depends on the shared libraries found" "libuv1" "$T/control/control"
# The runner's WebSocket handshake (SHA-1, base64) and the relay's tokens use nettle.
check_contains "it depends on nettle" "libnettle" "$T/control/control"
check "it ships the license" grep -q 'License: Expat' "$T/root/usr/share/doc/delego-runner/copyright"

done_testing
