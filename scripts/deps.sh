#!/usr/bin/env bash
# Install the Debian 12 packages tern needs, only if any is missing.
# Usage: scripts/deps.sh [run|test]   (test adds the tools the test suite uses)
set -euo pipefail

RUN_PKGS=(
  build-essential cmake pkg-config
  libjansson-dev libspeexdsp-dev libuv1-dev libcurl4-openssl-dev libwebsockets-dev
  libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us flite1-dev libespeak-ng-dev
  libwebrtc-audio-processing-dev libopus-dev libjwt-dev libcmocka-dev
)
TEST_PKGS=(
  clang libclang-rt-14-dev python3 valgrind curl
)

want=("${RUN_PKGS[@]}")
[ "${1:-run}" = test ] && want+=("${TEST_PKGS[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
