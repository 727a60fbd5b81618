#!/bin/sh
# Build tern in Release and run every benchmark, printing each table and the
# machine it ran on. Usage: scripts/bench.sh [build-dir]   (default: build-bench)
# Run from anywhere; the benchmarks run from the repository root (they read
# examples/audio). Each one takes well under a minute.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-bench}
case $build in /*) ;; *) build="$root/$build" ;; esac

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
targets=$(cd "$root/bench" && ls bench_*.c | sed 's/\.c$//')
# shellcheck disable=SC2086
cmake --build "$build" -j2 --target $targets >/dev/null

echo "# tern benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
cd "$root"
for t in $targets; do
  echo
  echo "===== $t ====="
  "$build/bench/$t"
done
