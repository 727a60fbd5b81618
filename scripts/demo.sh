#!/usr/bin/env bash
# tern's main job on a fresh Debian 12 machine: install, build, run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh run
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target tern >/dev/null
echo "== tern analyze examples/audio/sample.wav"
./build/tern analyze examples/audio/sample.wav
