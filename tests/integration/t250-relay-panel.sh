#!/bin/sh
# delego-relay: the Runners panel in headless Debian chromium, driven by
# playwright-core (tests/panel/panel-test.mjs): pair through the dialog, run
# the real runner with the shown command, watch it turn Online, rotate it
# and watch it exit 2, remove it; screenshots land in $BUILD/panel-screenshots.
. "$(dirname "$0")/lib.sh"

PLAYWRIGHT_VERSION=1.65.1
skip_all() { echo "ok 1 - # SKIP $*"; exit 0; }

[ -x /usr/bin/chromium ] || skip_all "no /usr/bin/chromium (install it with: apt-get install -y chromium)"
command -v node >/dev/null 2>&1 || skip_all "no node"
command -v npm >/dev/null 2>&1 || skip_all "no npm"

# playwright-core goes under the build folder, never into the tree.
PW=$B/panel-node
if [ ! -f "$PW/node_modules/playwright-core/package.json" ]; then
	mkdir -p "$PW"
	[ -f "$PW/package.json" ] || echo '{"private": true}' >"$PW/package.json"
	if ! (cd "$PW" && npm install --no-audit --no-fund --loglevel=error "playwright-core@$PLAYWRIGHT_VERSION") >"$T/npm.log" 2>&1; then
		skip_all "npm could not install playwright-core@$PLAYWRIGHT_VERSION: $(tail -n 1 "$T/npm.log")"
	fi
fi

relay_start || exit 1
OUT_DIR=$B/panel-screenshots
mkdir -p "$OUT_DIR"
PLAYWRIGHT_DIR=$PW RELAY_URL=$RELAY_URL RELAY_BIN=$RELAY_BIN RELAY_DB=$RELAY_DB \
	ADMIN_TOKEN=$(relay admin-token) RUNNER_BIN=$RUNNER_BIN OUT_DIR=$OUT_DIR WORK=$T \
	timeout 300 node "$TOP/tests/panel/panel-test.mjs"
rc=$?
if [ $rc -ne 0 ]; then
	for f in pair.log runner.log relay.log; do
		[ -f "$T/$f" ] && { echo "# --- $f"; tail -n 20 "$T/$f" | sed 's/^/# /'; }
	done
fi
exit $rc
