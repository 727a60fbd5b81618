#!/usr/bin/env bash
# Run the fault matrix (tests/matrix/test_matrix.c) in a release build and
# keep its result as docs/RELIABILITY.md: every component (STT, LLM, TTS)
# x every fault of its primary provider x with and without a fallback, each
# a real three-turn conversation in real time against the fake provider
# server. Takes about a minute and a half; exits non-zero when a cell fails
# (the document records the failure either way).
#   scripts/reliability.sh                  the whole matrix
#   TERN_MATRIX_JOBS=4 scripts/reliability.sh   fewer cells at a time
#   TERN_MATRIX_ONLY=tts/ scripts/reliability.sh  a part (still written)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
BUILD=${TERN_BUILD_DIR:-build}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target test_matrix >/dev/null
TERN_SOURCE_DIR=$PWD TERN_BINARY_DIR=$PWD/$BUILD TERN_MATRIX_OUT=$PWD/docs/RELIABILITY.md \
  "$BUILD/tests/test_matrix"
printf '\n## Network faults from the kernel\n\nSee [NETEM.md](NETEM.md): the fallback runner under packet loss, a slow link, and a black-holed or downed link between tern and the providers (network namespaces; `tests/netem/run.sh`).\n' >> docs/RELIABILITY.md
