#!/usr/bin/env bash
# The browser client end to end: web/ in headless Chromium, a fake microphone
# asking a question, a real `tern serve` answering (web/test/e2e.mjs).
# Exit 77 (CTest: skipped) when a tool it needs is not on this machine; never
# a pass without the browser having talked to the server.
set -u

skip() { echo "SKIP: $*"; exit 77; }

SRC=${TERN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${TERN_BINARY_DIR:-$SRC/build}
TERN=$BIN/tern
CHROMIUM=${TERN_CHROMIUM:-/usr/bin/chromium}

[ -x "$TERN" ] || skip "no tern binary at $TERN (build the 'tern' target first)"
"$TERN" --help 2>&1 | grep -qE '^[[:space:]]+serve[[:space:]]' || skip "$TERN has no 'serve' command"
"$TERN" --help 2>&1 | grep -qE '^[[:space:]]+token[[:space:]]' || skip "$TERN has no 'token' command"
[ -x "$CHROMIUM" ] || skip "no Chromium at $CHROMIUM (scripts/deps.sh test installs Debian's)"
command -v node >/dev/null || skip "no node (scripts/deps.sh test installs it)"
command -v npm >/dev/null || skip "no npm (scripts/deps.sh test installs it)"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || skip "node $(node --version) is too old for playwright-core (needs 20)"

# playwright-core at the version package.json pins, from the npm registry,
# into web/test/node_modules (ignored by git); skipped when already there.
# It is only the driver: the browser is Debian's, never a download.
cd "$SRC/web/test" || exit 2
want=$(node -p 'require("./package.json").dependencies["playwright-core"]')
have=$(node -p 'try { require("./node_modules/playwright-core/package.json").version } catch { "" }')
if [ "$want" != "$have" ]; then
  echo "installing playwright-core@$want"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-package-lock --no-audit --no-fund \
    --ignore-scripts --loglevel=error || { echo "FAIL: npm install playwright-core@$want"; exit 1; }
fi

TERN="$TERN" TERN_WEB_ROOT="$SRC/web" TERN_OUT="$BIN" TERN_CHROMIUM="$CHROMIUM" exec node e2e.mjs
