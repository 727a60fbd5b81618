#!/usr/bin/env bash
# tern's main job on a fresh Debian 12 machine: install what it needs, build,
# and hold a spoken conversation with a recorded caller, entirely offline.
#   ./scripts/demo.sh            real time (about 45 s, as on a call)
#   ./scripts/demo.sh --fast     on a simulated clock (a few seconds)
# The agent's side is written to build/conversation.wav (caller left, agent
# right) and the events to build/conversation.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh run
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target tern >/dev/null
./build/tern render-fallbacks -o build/clips >/dev/null
rm -f build/conversation.jsonl
exec ./build/tern run --config examples/demo.ini --in examples/audio/caller.wav \
  --out build/conversation.wav --events build/conversation.jsonl "$@"
