#!/bin/bash
# Concurrency benchmark of `tern serve`: ramp the number of live sessions
# until a limit is hit, one fresh server per step.
#
# The server runs fake providers with realistic latency (STT 150 ms; LLM
# first token 300 ms, then a word every 20 ms; TTS first chunk 100 ms, then
# 20 ms chunks at twice real time) and bench_serve plays N callers on it:
# real-time 16 kHz audio, a 1 s speech burst then 4 s of silence, over and
# over. Loopback only. Per step: sessions held, server CPU and RSS (from
# /proc), RSS per session over the idle server, the client's own CPU,
# turn latency above the nominal pipeline, agent-frame jitter and frames
# late by more than 20 ms.
#
# Usage: scripts/bench-serve.sh [build-dir]        (default: build-bench)
# Environment:
#   STEPS="50 100 200 300 400"  session counts to try, in order
#   DURATION=30 WARMUP=8 RAMP=4  seconds: measurement window, settling, connecting
#   WORKERS=1                    server worker threads
#   PIN=1                        server on core 0, client on core 1 (taskset)
#   LIMIT_P99_MS=150             stop after a step whose added p99 latency exceeds this
#   PORT=18180 ADMIN_PORT=18181
# Stops after the first step that holds fewer sessions than asked, has
# errors, exceeds LIMIT_P99_MS, or finds the server at >= 95 % of its core.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-bench}
case $build in /*) ;; *) build="$root/$build" ;; esac
STEPS=${STEPS:-"50 100 200 300 400 500 600"}
DURATION=${DURATION:-30}
WARMUP=${WARMUP:-8}
RAMP=${RAMP:-4}
WORKERS=${WORKERS:-1}
PIN=${PIN:-1}
LIMIT_P99_MS=${LIMIT_P99_MS:-150}
PORT=${PORT:-18180}
ADMIN_PORT=${ADMIN_PORT:-18181}

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target tern bench_serve >/dev/null
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true

work=$(mktemp -d)
trap 'kill "$spid" 2>/dev/null || true; rm -rf "$work"' EXIT
spid=
# Nominal pipeline, what the fakes and the endpointing cost by design:
# endpoint 500 ms (min_endpoint; the STT's 150 ms runs inside it, from the
# VAD's 300 ms silence decision) + LLM 300 ms to the first word + 120 ms
# for the rest of the first sentence ("Sure, I can help with that." is cut
# when the next word arrives: 6 more words at 20 ms) + TTS 100 ms.
NOMINAL_MS=1020
cat >"$work/serve.ini" <<EOF
[server]
workers = $WORKERS
max_sessions = 5000
[auth]
disabled = true
[session]
min_endpoint_ms = 500
vad_min_silence_ms = 300
[stt]
chain = fakestt
[stt.fakestt]
kind = fake
first_delay_ms = 150
interval_ms = 0
reply = I would like some help please
[llm]
chain = fakellm
[llm.fakellm]
kind = fake
first_delay_ms = 300
interval_ms = 20
reply = Sure, I can help with that. One moment please.
[tts]
chain = faketts
[tts.faketts]
kind = fake
first_delay_ms = 100
interval_ms = 10
samples_per_letter = 800
[log]
level = error
EOF

srv_pin=() cli_pin=()
if [ "$PIN" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  srv_pin=(taskset -c 0) cli_pin=(taskset -c 1)
fi

field() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" <<<"$2"; }
rss_of() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

echo "# tern serve concurrency, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# workers $WORKERS, pinned: ${PIN}, window ${DURATION}s, nominal pipeline ${NOMINAL_MS} ms"
echo
echo "| sessions | held | server CPU | server RSS | RSS/session | client CPU | turns | latency p50 / p99 | added p50 / p99 | jitter p99 | lateness p99 / max | late > 20 ms | errors |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for n in $STEPS; do
  "${srv_pin[@]}" "$build/tern" serve --config "$work/serve.ini" --port "$PORT" \
    --admin-port "$ADMIN_PORT" >"$work/serve.log" 2>&1 &
  spid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$ADMIN_PORT/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  sleep 0.5
  idle=$(rss_of "$spid")
  out=$("${cli_pin[@]}" "$build/bench/bench_serve" --port "$PORT" --sessions "$n" \
    --duration "$DURATION" --warmup "$WARMUP" --ramp "$RAMP" --nominal-ms "$NOMINAL_MS" \
    --server-pid "$spid" 2>"$work/client.err")
  res=$(grep '^RESULT ' <<<"$out" | sed 's/^RESULT //')
  kill -TERM "$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
  spid=
  held=$(field held "$res")
  rss=$(field server_rss_kib "$res")
  cpu=$(field server_cpu_pct "$res")
  per=$(awk -v a="$rss" -v b="$idle" -v n="$n" 'BEGIN {printf "%.0f", (a - b) / n}')
  errs=$(($(field errors "$res") + $(field protocol_errors "$res") + $(field closes_unexpected "$res") + $(field connect_fail "$res") + $(field refused "$res")))
  printf "| %s | %s | %s %% | %.1f MiB | %s KiB | %s %% | %s | %s / %s ms | %s / %s ms | %s ms | %s / %s ms | %s of %s | %s |\n" \
    "$n" "$held" "$cpu" "$(awk -v r="$rss" 'BEGIN {print r / 1024}')" "$per" \
    "$(field client_cpu_pct "$res")" "$(field turns "$res")" \
    "$(field lat_p50_ms "$res")" "$(field lat_p99_ms "$res")" \
    "$(field added_p50_ms "$res")" "$(field added_p99_ms "$res")" \
    "$(field jitter_p99_ms "$res")" "$(field lateness_p99_ms "$res")" \
    "$(field lateness_max_ms "$res")" "$(field late_frames "$res")" "$(field frames "$res")" "$errs"
  if [ -s "$work/client.err" ]; then
    echo "  (client: $(sort "$work/client.err" | uniq -c | sort -rn | head -3 | tr '\n' ';'))"
  fi
  stop=
  [ "$held" -lt "$n" ] && stop="held $held of $n"
  [ "$errs" -gt 0 ] && stop="${stop:+$stop, }$errs errors"
  awk -v p="$(field added_p99_ms "$res")" -v l="$LIMIT_P99_MS" 'BEGIN {exit !(p > l)}' &&
    stop="${stop:+$stop, }added p99 over ${LIMIT_P99_MS} ms"
  awk -v c="$cpu" -v w="$WORKERS" 'BEGIN {exit !(c >= 95 * w)}' &&
    stop="${stop:+$stop, }server CPU saturated"
  if [ -n "$stop" ]; then
    echo
    echo "limit at $n sessions: $stop"
    break
  fi
done
