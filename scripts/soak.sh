#!/bin/bash
# Soak test of `tern serve` (not part of CI): many concurrent sessions for
# many minutes while the fake providers fail and stall at random, watching
# for the three things a long run reveals:
#   - leaks: server RSS sampled every few seconds; the slope after warm-up
#     (least squares) should be flat; a plot goes to docs/soak-rss.png;
#   - dead air: turns where no agent audio started within the bound
#     (/stats dead_air_violations_total, counted by every session);
#   - lost transcript lines: every user_speech_committed in the events file
#     needs an agent_speech_committed after it in the same session (turns
#     committed in the last 15 s, still in flight at the stop, don't count).
# Sessions turn over: each caller ends its call ({"type":"end"}) after a few
# turns and a fresh session takes its place, so per-session memory that is
# never given back shows as growth too.
#
# Usage: scripts/soak.sh [build-dir]            (default: build-bench)
# Environment:
#   MINUTES=10 SESSIONS=100 TURNS=6 WORKERS=2   length, concurrency, turns per call
#   FAIL_RATE=0.05 STALL_RATE=0.02              faults of each primary provider, per call
#   SAMPLE_S=5 WARMUP_MIN=2                     RSS sampling; minutes left out of the slope
#   OUT=dir                                     where data, events and logs go (default: a temp dir)
#   PLOT=docs/soak-rss.png                      "" for no plot
#   PORT=18280 ADMIN_PORT=18281
# Exit status 0 when memory is flat (the last third of the samples after
# warm-up averages under 5 % above the first third), with no dead-air
# violation and no lost line; 1 otherwise.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-bench}
case $build in /*) ;; *) build="$root/$build" ;; esac
MINUTES=${MINUTES:-10}
SESSIONS=${SESSIONS:-100}
TURNS=${TURNS:-6}
WORKERS=${WORKERS:-2}
FAIL_RATE=${FAIL_RATE:-0.05}
STALL_RATE=${STALL_RATE:-0.02}
SAMPLE_S=${SAMPLE_S:-5}
WARMUP_MIN=${WARMUP_MIN:-2}
PLOT=${PLOT-$root/docs/soak-rss.png}
PORT=${PORT:-18280}
ADMIN_PORT=${ADMIN_PORT:-18281}
OUT=${OUT:-$(mktemp -d /tmp/tern-soak.XXXXXX)}
mkdir -p "$OUT"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target tern bench_serve >/dev/null
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true

# Holding and fallback phrases are played from pre-rendered clips, as in a
# deployment: the dead-air bound must not hang on a TTS call.
"$build/tern" render-fallbacks -o "$OUT/clips" --rate 16000 >/dev/null 2>&1 ||
  "$build/tern" render-fallbacks -o "$OUT/clips" >/dev/null

# Two links per chain: a primary that fails and stalls at random, and a
# backup that is slower but more reliable (it fails and stalls too, at a
# fifth of the rate), seeded so a run can be repeated.
fault() { awk -v r="$1" -v d="$2" 'BEGIN {printf "%.4f", r / d}'; }
cat >"$OUT/soak.ini" <<EOF
[server]
workers = $WORKERS
max_sessions = 5000
[auth]
disabled = true
[session]
min_endpoint_ms = 500
clips_dir = $OUT/clips
[stt]
chain = stt1, stt2
[stt.stt1]
kind = fake
first_delay_ms = 150
interval_ms = 0
reply = I would like some help please
fail_rate = $FAIL_RATE
stall_rate = $STALL_RATE
seed = 11
[stt.stt2]
kind = fake
first_delay_ms = 250
interval_ms = 0
reply = I would like some help please
fail_rate = $(fault "$FAIL_RATE" 5)
stall_rate = $(fault "$STALL_RATE" 5)
seed = 12
[llm]
chain = llm1, llm2
[llm.llm1]
kind = fake
first_delay_ms = 300
interval_ms = 20
reply = Sure, I can help with that. One moment please.
fail_rate = $FAIL_RATE
stall_rate = $STALL_RATE
seed = 21
[llm.llm2]
kind = fake
first_delay_ms = 400
interval_ms = 25
reply = Sure, I can help with that. One moment please.
fail_rate = $(fault "$FAIL_RATE" 5)
stall_rate = $(fault "$STALL_RATE" 5)
seed = 22
[tts]
chain = tts1, tts2
[tts.tts1]
kind = fake
first_delay_ms = 100
interval_ms = 10
samples_per_letter = 800
fail_rate = $FAIL_RATE
stall_rate = $STALL_RATE
seed = 31
[tts.tts2]
kind = fake
first_delay_ms = 150
interval_ms = 10
samples_per_letter = 800
fail_rate = $(fault "$FAIL_RATE" 5)
stall_rate = $(fault "$STALL_RATE" 5)
seed = 32
[log]
level = error
EOF

"$build/tern" serve --config "$OUT/soak.ini" --port "$PORT" --admin-port "$ADMIN_PORT" \
  --events "$OUT/events.jsonl" >"$OUT/serve.log" 2>&1 &
spid=$!
cpid=
trap 'kill "$cpid" "$spid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$ADMIN_PORT/health" >/dev/null 2>&1 && break
  sleep 0.1
done
secs=$((MINUTES * 60))
echo "# soak: $SESSIONS sessions, $MINUTES min, $WORKERS workers, faults fail $FAIL_RATE stall $STALL_RATE per call; data in $OUT"
"$build/bench/bench_serve" --port "$PORT" --sessions "$SESSIONS" --turns "$TURNS" \
  --duration "$secs" --warmup 0 --ramp 5 --nominal-ms 1020 --server-pid "$spid" \
  --progress 60 >"$OUT/client.txt" 2>"$OUT/client.err" &
cpid=$!
echo "t_s rss_kib sessions" >"$OUT/rss.dat"
t0=$(date +%s.%N)
while kill -0 "$cpid" 2>/dev/null; do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$spid/status")
  act=$(curl -sf "http://127.0.0.1:$ADMIN_PORT/stats" | sed -n 's/.*"sessions_active":\([0-9]*\).*/\1/p')
  echo "$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN {printf "%.1f", a - b}') $rss ${act:-0}" >>"$OUT/rss.dat"
  sleep "$SAMPLE_S"
done
wait "$cpid" || true
cpid=
curl -sf "http://127.0.0.1:$ADMIN_PORT/stats" >"$OUT/stats.json"
curl -sf "http://127.0.0.1:$ADMIN_PORT/metrics" >"$OUT/metrics.txt"
kill -TERM "$spid" 2>/dev/null || true
wait "$spid" 2>/dev/null || true
spid=

num() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" "$OUT/stats.json"; }
# Leak: least-squares slope of RSS (KiB per minute) after the warm-up, and
# the mean of the last third against the first third (the slope alone is
# at the mercy of where malloc's arenas happened to be at both ends).
read -r slope rmin rmax rlast n growth < <(awk -v w="$((WARMUP_MIN * 60))" 'NR > 1 && $1 >= w {
    x = $1 / 60; y = $2; n++; sx += x; sy += y; sxx += x * x; sxy += x * y; v[n] = y
    if (!mn || y < mn) mn = y; if (y > mx) mx = y; last = y }
  END { d = n * sxx - sx * sx; k = int(n / 3); a = 0; b = 0
    for (i = 1; i <= k; i++) { a += v[i]; b += v[n - k + i] }
    printf "%.1f %d %d %d %d %.1f\n", d ? (n * sxy - sx * sy) / d : 0, mn, mx, last, n,
      k ? (b - a) / a * 100 : 0 }' "$OUT/rss.dat")
# Lost lines: per session, a user line not followed by an agent line.
read -r users lost sessions_seen < <(awk '
  { if (!match($0, /"session":"[^"]*"/)) next; s = substr($0, RSTART + 11, RLENGTH - 12)
    if (!match($0, /"type":"[^"]*"/)) next; ty = substr($0, RSTART + 8, RLENGTH - 9)
    match($0, /"ts":[0-9]+/); ts = substr($0, RSTART + 5, RLENGTH - 5) + 0
    if (ts > last) last = ts
    if (ty == "session_started") seen++
    if (ty == "user_speech_committed") { if (s in pend) lostl[++nl] = pend[s]; pend[s] = ts; users_at[++nu] = ts }
    if (ty == "agent_speech_committed") delete pend[s]
    if (ty == "session_closed" && (s in pend)) { lostl[++nl] = pend[s]; delete pend[s] } }
  END { cut = last - 15000; u = 0; l = 0
    for (i = 1; i <= nu; i++) if (users_at[i] <= cut) u++
    for (i = 1; i <= nl; i++) if (lostl[i] <= cut) l++
    for (s in pend) if (pend[s] <= cut) l++
    print u, l, seen + 0 }' "$OUT/events.jsonl")
viol=$(num dead_air_violations_total)
echo
echo "sessions started:        $sessions_seen (concurrent: $SESSIONS, each $TURNS turns)"
echo "turns (server):          $(num turns_total)"
echo "provider errors:         $(num errors_total), failovers $(num failovers_total), holding phrases $(num holding_phrases_total), fallback phrases $(num fallback_phrases_total)"
echo "server RSS after warm-up: min $((rmin / 1024)) MiB, max $((rmax / 1024)) MiB, last $((rlast / 1024)) MiB over $n samples"
echo "RSS slope after warm-up: $slope KiB/min; last third vs first third: $growth %"
echo "dead-air violations:     ${viol:-?}"
echo "user lines:              $users, lost (no agent line after): $lost"
echo "client:                  $(grep -E '^(turn latency|agent frames|connects)' "$OUT/client.txt" | tr '\n' ' ')"

if [ -n "$PLOT" ] && command -v gnuplot >/dev/null; then
  gnuplot <<EOF
set terminal pngcairo size 900,420 font "sans,10" noenhanced
set output "$PLOT"
set title "tern serve soak: $SESSIONS sessions (new call every $TURNS turns), faults $FAIL_RATE fail + $STALL_RATE stall per call"
set xlabel "minutes"
set ylabel "server RSS (MiB)"
set y2label "sessions active"
set y2tics
set ytics nomirror
set yrange [0:*]
set y2range [0:$((SESSIONS * 5 / 4))]
set grid
set autoscale xfix
set key bottom right
set arrow from $WARMUP_MIN, graph 0 to $WARMUP_MIN, graph 1 nohead dt 2 lc rgb "gray"
plot "$OUT/rss.dat" using (\$1/60):(\$2/1024) with lines lw 2 lc rgb "#1f77b4" title "RSS", \
     "" using (\$1/60):3 axes x1y2 with lines lc rgb "#aaaaaa" title "sessions"
EOF
  echo "plot: $PLOT"
elif [ -n "$PLOT" ]; then
  echo "gnuplot not found (apt-get install gnuplot-nox): no plot; data in $OUT/rss.dat"
fi
awk -v g="$growth" -v v="${viol:-1}" -v l="$lost" 'BEGIN {exit !(g < 5 && v == 0 && l == 0)}'
