#!/usr/bin/env bash
# The operator dashboard renders in headless Chromium against a real
# `tern serve` with fake providers and live callers (web/test/dashboard.mjs);
# the screenshot goes to $TERN_BINARY_DIR/dashboard.png. Exit 77 (CTest:
# skipped) when a tool it needs is not on this machine.
set -u

skip() { echo "SKIP: $*"; exit 77; }

SRC=${TERN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${TERN_BINARY_DIR:-$SRC/build}
TERN=$BIN/tern
CHROMIUM=${TERN_CHROMIUM:-/usr/bin/chromium}

[ -x "$TERN" ] || skip "no tern binary at $TERN (build the 'tern' target first)"
"$TERN" --help 2>&1 | grep -qE '^[[:space:]]+serve[[:space:]]' || skip "$TERN has no 'serve' command"
[ -x "$CHROMIUM" ] || skip "no Chromium at $CHROMIUM (scripts/deps.sh test installs Debian's)"
command -v node >/dev/null || skip "no node (scripts/deps.sh test installs it)"
command -v npm >/dev/null || skip "no npm (scripts/deps.sh test installs it)"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || skip "node $(node --version) is too old for playwright-core (needs 20)"

# The same driver, in the same place, as tests/web/test_browser.sh: the
# version web/test/package.json pins, into web/test/node_modules; never a
# browser download.
cd "$SRC/web/test" || exit 2
want=$(node -p 'require("./package.json").dependencies["playwright-core"]')
have=$(node -p 'try { require("./node_modules/playwright-core/package.json").version } catch { "" }')
if [ "$want" != "$have" ]; then
  echo "installing playwright-core@$want"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-package-lock --no-audit --no-fund \
    --ignore-scripts --loglevel=error || { echo "FAIL: npm install playwright-core@$want"; exit 1; }
fi

TERN="$TERN" TERN_WEB_ROOT="$SRC/web" TERN_OUT="$BIN" TERN_CHROMIUM="$CHROMIUM" exec node dashboard.mjs
