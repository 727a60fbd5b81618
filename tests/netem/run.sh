#!/usr/bin/env bash
# Network faults from the kernel: tern's fallback runner against the fake
# provider server across a real link that the kernel delays, drops,
# reorders, throttles and cuts.
#
#   [ns tern-cli-PID]  netem_driver (tern)  10.231.R.2/30  veth "tc0"
#          |                                                  |  tc netem / nftables / tbf / link down
#   [ns tern-prov-PID] fakeprov server.py   10.231.R.1/30  veth "tp0"
#
# Both ends live in namespaces this script makes and deletes; neither has a
# default route, so nothing sent here can leave the machine, even with the
# link cut. Conditions, in turn (each a fresh driver process, so no breaker
# state carries over): clean; delay 200 ms ±50 ms; loss 10 %; reordering
# 25 % with delay; a slow link (tbf 192 kbit/s); a blackhole mid-stream (all
# packets dropped) and a link cut mid-stream (ip link set down), each
# followed by the restore and the switch back. The driver's checks are in
# tests/netem/netem_driver.c. A table of results is printed and written to
# $TERN_NETEM_OUT (default: $TERN_BINARY_DIR/NETEM.md).
#
# Needs root, ip and tc (iproute2), python3; nftables where the kernel has no
# netem. Exit 77 (CTest: skipped) when network namespaces are not permitted
# or a tool is missing; a condition the kernel cannot make (no sch_netem) is
# skipped alone and named in the table. Usage: run.sh [--verbose]
#
# Internal: run.sh --hook COND cut|restore applies or lifts a cut; the
# driver calls it from inside the client namespace.
set -u
export PATH=$PATH:/usr/sbin:/sbin

SRC=${TERN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${TERN_BINARY_DIR:-$SRC/build}
DRIVER=${TERN_NETEM_DRIVER:-$BIN/tests/netem_driver}
OUT=${TERN_NETEM_OUT:-$BIN/NETEM.md}
CLI_DEV=tc0
PROV_DEV=tp0

skip() { echo "netem: skipped: $*"; exit 77; }

# ---- the cut hooks (run by the driver, inside the client namespace) ----
if [ "${1:-}" = --hook ]; then
  cond=$2 what=$3
  : "${NETEM_CLI:?} ${NETEM_PROV:?} ${NETEM_HAVE_NETEM:?}"
  case "$cond/$what" in
  linkdown/cut) ip -n "$NETEM_CLI" link set "$CLI_DEV" down ;;
  linkdown/restore) ip -n "$NETEM_CLI" link set "$CLI_DEV" up ;;
  blackhole/cut)
    if [ "$NETEM_HAVE_NETEM" = 1 ]; then
      tc -n "$NETEM_CLI" qdisc replace dev "$CLI_DEV" root netem loss 100% &&
        tc -n "$NETEM_PROV" qdisc replace dev "$PROV_DEV" root netem loss 100%
    else
      ip netns exec "$NETEM_CLI" nft -f - <<EOF
table inet tern_netem {
  chain in { type filter hook input priority 0; iifname "$CLI_DEV" drop; }
  chain out { type filter hook output priority 0; oifname "$CLI_DEV" drop; }
}
EOF
    fi ;;
  blackhole/restore)
    if [ "$NETEM_HAVE_NETEM" = 1 ]; then
      tc -n "$NETEM_CLI" qdisc del dev "$CLI_DEV" root &&
        tc -n "$NETEM_PROV" qdisc del dev "$PROV_DEV" root
    else
      ip netns exec "$NETEM_CLI" nft delete table inet tern_netem
    fi ;;
  *) echo "run.sh: unknown hook $cond $what" >&2; exit 2 ;;
  esac
  exit $?
fi

VERBOSE=
[ "${1:-}" = --verbose ] && VERBOSE=--verbose

# ---- can this machine do it? -------------------------------------------
[ "$(id -u)" = 0 ] || skip "network namespaces are not permitted here (not root: run as root, or in CI)"
command -v ip >/dev/null || skip "no 'ip' command (install Debian's iproute2)"
command -v tc >/dev/null || skip "no 'tc' command (install Debian's iproute2)"
PYTHON=${TERN_PYTHON:-/usr/bin/python3}
[ -x "$PYTHON" ] || PYTHON=$(command -v python3) || skip "no python3 for the fake provider server"
[ -x "$DRIVER" ] || skip "no driver at $DRIVER (build the netem_driver target)"

PID=$$
CLI=tern-cli-$PID
PROV=tern-prov-$PID
NET=10.231.$((RANDOM % 256))
TMP=$(mktemp -d /tmp/tern-netem.XXXXXX)
SERVER=0
DRIVER_PID=0

cleanup() {
  [ "$DRIVER_PID" -gt 0 ] && kill "$DRIVER_PID" 2>/dev/null && wait "$DRIVER_PID" 2>/dev/null
  [ "$SERVER" -gt 0 ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  # Deleting a namespace deletes the veth end in it, and with it the pair.
  ip netns del "$CLI" 2>/dev/null
  ip netns del "$PROV" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! ip netns add "$PROV" 2>"$TMP/err"; then
  skip "network namespaces are not permitted here ($(tr '\n' ' ' <"$TMP/err" | sed 's/ *$//'))"
fi
ip netns add "$CLI" 2>"$TMP/err" || skip "network namespaces are not permitted here ($(cat "$TMP/err"))"
# The pair is made inside the namespaces, so the names never meet the host's.
ip -n "$CLI" link add "$CLI_DEV" type veth peer name "$PROV_DEV" netns "$PROV" 2>"$TMP/err" ||
  skip "cannot make a veth pair between namespaces ($(cat "$TMP/err"))"
set -e
ip -n "$PROV" addr add "$NET.1/30" dev "$PROV_DEV"
ip -n "$CLI" addr add "$NET.2/30" dev "$CLI_DEV"
for ns in "$PROV" "$CLI"; do ip -n "$ns" link set lo up; done
ip -n "$PROV" link set "$PROV_DEV" up
ip -n "$CLI" link set "$CLI_DEV" up
set +e

# What the kernel offers: netem for delay, loss and reordering; without it,
# loss and the blackhole from nftables, and delay and reordering skipped.
HAVE_NETEM=0 HAVE_NFT=0 HAVE_TBF=0
tc -n "$CLI" qdisc add dev "$CLI_DEV" root netem delay 1ms 2>/dev/null &&
  tc -n "$CLI" qdisc del dev "$CLI_DEV" root && HAVE_NETEM=1
if command -v nft >/dev/null && ip netns exec "$CLI" nft add table inet tern_probe 2>/dev/null; then
  ip netns exec "$CLI" nft delete table inet tern_probe && HAVE_NFT=1
fi
tc -n "$PROV" qdisc add dev "$PROV_DEV" root tbf rate 1mbit burst 16kb latency 1s 2>/dev/null &&
  tc -n "$PROV" qdisc del dev "$PROV_DEV" root && HAVE_TBF=1
if [ $HAVE_NETEM = 0 ] && [ $HAVE_NFT = 0 ]; then
  skip "the kernel has no netem qdisc (sch_netem) and there is no nft to drop packets with"
fi
NOTE=""
[ $HAVE_NETEM = 0 ] && NOTE="this kernel has no netem qdisc (sch_netem): delay and reordering skipped; loss and the blackhole made with nftables"
[ -n "$NOTE" ] && echo "netem: $NOTE"

# ---- the fake provider, inside its namespace ------------------------------
ip netns exec "$PROV" "$PYTHON" "$SRC/tests/netem/ns_server.py" --bind "$NET.1" --port 0 --ws-port 0 \
  --port-file "$TMP/port" --parent-pid "$PID" --quiet 2>"$TMP/server.log" &
SERVER=$!
for _ in $(seq 200); do [ -s "$TMP/port" ] && break; sleep 0.05; done
[ -s "$TMP/port" ] || { echo "netem: FAIL: the fake server did not start"; cat "$TMP/server.log"; exit 1; }
read -r HTTP_PORT _ <"$TMP/port"
BASE=http://$NET.1:$HTTP_PORT

export NETEM_CLI=$CLI NETEM_PROV=$PROV NETEM_HAVE_NETEM=$HAVE_NETEM
export NO_PROXY='*' no_proxy='*'
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy

# ---- the conditions -------------------------------------------------------
# apply COND: put a plain condition on the link; prints the method, or fails.
# netem goes on both veth ends (each direction) except delay and reordering,
# which go on the provider's side: the answers come late or out of order.
apply() {
  case "$1" in
  clean) echo "healthy link" ;;
  delay)
    [ $HAVE_NETEM = 1 ] || return 1
    tc -n "$PROV" qdisc replace dev "$PROV_DEV" root netem delay 200ms 50ms && echo "netem delay 200ms 50ms" ;;
  loss)
    if [ $HAVE_NETEM = 1 ]; then
      tc -n "$CLI" qdisc replace dev "$CLI_DEV" root netem loss 10% &&
        tc -n "$PROV" qdisc replace dev "$PROV_DEV" root netem loss 10% && echo "netem loss 10% each way"
    elif [ $HAVE_NFT = 1 ]; then
      ip netns exec "$CLI" nft -f - <<EOF && echo "nftables: drop 10% at random, each way"
table inet tern_netem {
  chain in { type filter hook input priority 0; iifname "$CLI_DEV" numgen random mod 100 < 10 drop; }
  chain out { type filter hook output priority 0; oifname "$CLI_DEV" numgen random mod 100 < 10 drop; }
}
EOF
    else return 1; fi ;;
  reorder)
    [ $HAVE_NETEM = 1 ] || return 1
    tc -n "$PROV" qdisc replace dev "$PROV_DEV" root netem delay 50ms reorder 25% 50% &&
      echo "netem delay 50ms reorder 25% 50%" ;;
  slow)
    [ $HAVE_TBF = 1 ] || return 1
    tc -n "$PROV" qdisc replace dev "$PROV_DEV" root tbf rate 192kbit burst 8kb latency 2s &&
      echo "tbf 192 kbit/s toward tern" ;;
  blackhole) [ $HAVE_NETEM = 1 ] && echo "netem loss 100% mid-stream, each way" ||
    { [ $HAVE_NFT = 1 ] && echo "nftables: drop everything mid-stream"; } ;;
  linkdown) echo "ip link set down mid-stream" ;;
  esac
}

clear_link() {
  tc -n "$CLI" qdisc del dev "$CLI_DEV" root 2>/dev/null
  tc -n "$PROV" qdisc del dev "$PROV_DEV" root 2>/dev/null
  ip netns exec "$CLI" nft delete table inet tern_netem 2>/dev/null
  ip -n "$CLI" link set "$CLI_DEV" up
  true
}

why_skipped() {
  case "$1" in
  slow) echo "no tbf qdisc in this kernel" ;;
  *) echo "no netem qdisc in this kernel" ;;
  esac
}

ROWS=$TMP/rows
share() { [ "$calls" -gt 0 ] && echo "$1 ($((100 * $1 / calls)) %)" || echo 0; }
: >"$ROWS"
failed=0
ran=0
start=$(date +%s)
for cond in clean delay loss reorder slow blackhole linkdown; do
  clear_link
  if ! how=$(apply "$cond"); then
    printf 'SKIP\t%s\t%s\n' "$cond" "$(why_skipped "$cond")" >>"$ROWS"
    echo "netem: $cond: skipped ($(why_skipped "$cond"))"
    continue
  fi
  mode=plain args=()
  case "$cond" in
  loss) args=(--llm 16 --tts 6) ;; # enough packets that some are lost
  blackhole | linkdown)
    mode=cut
    args=(--cut "bash $SRC/tests/netem/run.sh --hook $cond cut"
      --restore "bash $SRC/tests/netem/run.sh --hook $cond restore") ;;
  esac
  echo "netem: $cond ($how)"
  t0=$(date +%s)
  # In the background and waited for, so a signal to this script is handled
  # at once (cleanup stops the driver) instead of after the driver ends.
  ip netns exec "$CLI" timeout -k 5 90 "$DRIVER" --base "$BASE" --cond "$cond" --mode "$mode" \
    "${args[@]}" $VERBOSE >"$TMP/out" 2>"$TMP/err" &
  DRIVER_PID=$!
  wait $DRIVER_PID
  rc=$?
  DRIVER_PID=0
  ran=$((ran + 1))
  grep -v '^ROW' "$TMP/out"
  grep '^ROW' "$TMP/out" | sed "s|\$|\t$how|" >>"$ROWS"
  if [ $rc -ne 0 ]; then
    failed=$((failed + 1))
    echo "netem: $cond: FAILED (driver exit $rc after $(($(date +%s) - t0)) s)"
    tail -n 40 "$TMP/err"
  else
    [ -n "$VERBOSE" ] && cat "$TMP/err"
    echo "netem: $cond: ok ($(($(date +%s) - t0)) s)"
  fi
done
clear_link

# ---- the table ------------------------------------------------------------
{
  echo "| condition | how | calls | primary | fallback | first output p50 | p99 | longest silence | error kinds seen |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---|"
  while IFS=$'\t' read -r tag name calls prim fb p50 p99 gap kinds how; do
    if [ "$tag" = SKIP ]; then
      echo "| $name | skipped: $calls | | | | | | | |"
      continue
    fi
    case "$name" in *restored) how="link restored; the calls after the switch back" ;; esac
    echo "| $name | $how | $calls | $(share "$prim") | $(share "$fb") | $p50 ms | $p99 ms | $gap ms | $kinds |"
  done <"$ROWS"
  echo
  echo "Kernel $(uname -r); $(date -u +%Y-%m-%d); $((($(date +%s) - start))) s in all.${NOTE:+ Note: $NOTE.}"
} >"$TMP/table.md"
echo
cat "$TMP/table.md"
mkdir -p "$(dirname "$OUT")" && cp "$TMP/table.md" "$OUT" 2>/dev/null && echo "netem: table written to $OUT"

if [ $failed -gt 0 ]; then
  echo "netem: $failed of $ran conditions FAILED"
  exit 1
fi
echo "netem: $ran conditions passed"
