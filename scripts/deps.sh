#!/usr/bin/env bash
# Install the Debian 12 packages tern needs, only if any is missing.
# Usage: scripts/deps.sh [run|test]   (test adds the tools the test suite uses)
set -euo pipefail

RUN_PKGS=(
  build-essential cmake pkg-config
  libjansson-dev libspeexdsp-dev libuv1-dev libcurl4-openssl-dev libwebsockets-dev
  libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us flite1-dev libespeak-ng-dev
  libwebrtc-audio-processing-dev libopus-dev libjwt-dev libssl-dev libcmocka-dev
)
TEST_PKGS=(
  clang libclang-rt-14-dev python3 valgrind curl prometheus
  chromium nodejs npm # the browser end-to-end test (tests/web)
  iproute2 nftables # kernel network faults (tests/netem): ip, tc, and nft where the kernel has no netem
)

want=("${RUN_PKGS[@]}")
[ "${1:-run}" = test ] && want+=("${TEST_PKGS[@]}")

# Node from outside Debian (NodeSource's nodejs bundles npm and conflicts
# with Debian's npm package): a working command is as good as the package.
have_cmd() {
  case "$1" in
  nodejs) command -v node >/dev/null ;;
  npm) command -v npm >/dev/null ;;
  *) return 1 ;;
  esac
}

missing=()
for p in "${want[@]}"; do
  have_cmd "$p" && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
