#!/usr/bin/env bash
# Spoken digits "zero".."nine" from flite's and festival's voices (not espeak-ng: the tests' unheard voices),
# at several rates and pitches, for the audio branch's training (core/tts.py says which voices and why).
#   scripts/make_tts_digits.sh                     # -> data/tts_digits/{digit}_{voice}_{variant}.wav + manifest.json
#   scripts/make_tts_digits.sh DATA_DIR            # -> DATA_DIR/tts_digits/ (training's default place for them)
#   scripts/make_tts_digits.sh --install [DATA_DIR]   # as root: apt-get the Debian packages first
# Training uses DATA_DIR/tts_digits when it exists, or the folder `python -m core.train --tts-dir` names.
# About 800 clips (20 MB) in half a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES="flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"
if [ "${1:-}" = "--install" ]; then
  shift
  missing=$(for p in $PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
  if [ -n "$missing" ]; then
    echo "installing: $missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  fi
fi
PY=${PYTHON:-.venv/bin/python}
exec "$PY" -m core.tts --out "${1:-data}/tts_digits"
