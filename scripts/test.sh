#!/usr/bin/env bash
# Build tern twice (release, then AddressSanitizer + UndefinedBehaviorSanitizer),
# run the whole test suite in both, then run every libFuzzer target briefly.
# Ends with one summary line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test || exit 1

JOBS=$(nproc)
FUZZ_SECONDS=${TERN_FUZZ_SECONDS:-15}
passed=0
failed=0

run_ctest() { # dir label
  local out
  out=$(cd "$1" && ctest --output-on-failure -j"$JOBS" 2>&1)
  echo "$out" | tail -n 40
  local line total fails
  line=$(echo "$out" | grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" | tail -1)
  if [ -z "$line" ]; then
    echo "test.sh: $2: ctest printed no summary" >&2
    failed=$((failed + 1))
    return
  fi
  total=$(echo "$line" | sed -E 's/.*out of ([0-9]+).*/\1/')
  fails=$(echo "$line" | sed -E 's/.*tests passed, ([0-9]+) tests failed.*/\1/')
  passed=$((passed + total - fails))
  failed=$((failed + fails))
}

build() { # dir cmake-args...
  local dir=$1
  shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null &&
    cmake --build "$dir" -j"$JOBS" 2>&1 | grep -E "error|warning|Error" ; return "${PIPESTATUS[0]}"
}

echo "== release build"
if build build; then run_ctest build release; else echo "release build failed"; failed=$((failed + 1)); fi

echo "== sanitizer build (address, undefined)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if build build-asan -DTERN_SANITIZE=ON -DTERN_BENCH=OFF; then run_ctest build-asan sanitizer; else
  echo "sanitizer build failed"; failed=$((failed + 1)); fi

echo "== fuzzing (${FUZZ_SECONDS}s per target)"
if CC=clang CXX=clang++ build build-fuzz -DTERN_FUZZ=ON -DTERN_SANITIZE=ON -DTERN_BENCH=OFF -DTERN_TESTS=OFF; then
  for f in build-fuzz/fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    name=$(basename "$f")
    corpus=fuzz/corpus/${name#fuzz_}
    work=$(mktemp -d)
    [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/ 2>/dev/null
    # A fixed seed: CI runs are reproducible; explore more by hand with another.
    if "$f" -seed="${TERN_FUZZ_SEED:-1}" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$work/" "$work" >"$work.log" 2>&1; then
      echo "fuzz $name: ok ($(grep -Eo 'Done [0-9]+ runs' "$work.log" | tail -1))"
      passed=$((passed + 1))
    else
      echo "fuzz $name: FAILED"; tail -n 30 "$work.log"; failed=$((failed + 1))
    fi
    rm -rf "$work" "$work.log"
  done
else
  echo "fuzz build failed"; failed=$((failed + 1))
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
