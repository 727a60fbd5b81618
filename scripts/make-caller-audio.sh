#!/bin/sh
# Regenerates examples/audio/caller.wav: a recorded "caller" for `tern run`
# (the README's main job) — several utterances separated by silence, spoken
# by flite's kal16 voice (16 kHz mono), which pocketsphinx recognises well.
# Needs a built tern (build/tern) and python3; deterministic.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
tern="$root/build/tern"
out="$root/examples/audio/caller.wav"
[ -x "$tern" ] || { echo "make-caller-audio: build tern first (cmake --build build)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
i=0
while IFS='|' read -r gap text; do
  i=$((i + 1))
  "$tern" say "$text" --tts flite -o "$tmp/$i.wav" 2>/dev/null
  echo "$gap $tmp/$i.wav" >>"$tmp/list"
done <<'LINES'
4.5|Hello there.
5.5|What is the weather in London?
6.0|What time is it?
5.5|Can you book a meeting for tomorrow at ten o'clock?
7.5|Thank you, goodbye.
LINES
python3 - "$tmp/list" "$out" <<'PY'
import sys, wave
items = [l.split(" ", 1) for l in open(sys.argv[1]).read().split("\n") if l]
frames = b""
for gap, path in items:
    frames += b"\0\0" * int(float(gap) * 16000)
    with wave.open(path.strip()) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1
        frames += w.readframes(w.getnframes())
frames += b"\0\0" * 16000
with wave.open(sys.argv[2], "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000); w.writeframes(frames)
PY
echo "wrote $out"
