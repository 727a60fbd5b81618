#!/bin/sh
# Regenerates examples/audio/sample.wav, the short spoken sentence that
# `tern analyze`, the audio tests and the demos use. Idempotent: flite's
# output is deterministic, so running it again rewrites the same bytes.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/examples/audio/sample.wav"
text="Hello, this is tern. How can I help you today?"
voice=kal16 # 16 kHz mono; the voice pocketsphinx recognises best

if ! command -v flite >/dev/null 2>&1; then
  echo "make-sample-audio: installing flite" >&2
  if [ "$(id -u)" -eq 0 ]; then
    apt-get install -y flite >/dev/null
  else
    sudo apt-get install -y flite >/dev/null
  fi
fi

mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
flite -voice "$voice" -t "$text" -o "$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "wrote $out ($(wc -c <"$out") bytes)"
