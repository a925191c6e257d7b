#!/usr/bin/env bash
# Make .venv with everything in requirements.txt; with --system also the Debian packages the
# tests use (espeak-ng and sox for real speech, ffmpeg for mp3/webm, libportaudio2 for the
# microphone, xvfb/xdotool for OpenCV windows, chromium for browser tests, tesseract-ocr for the
# OCR peer, flite and festival with three voices for the text-to-speech digits' own test).
# Safe to run again: pip is skipped while requirements.txt is unchanged.
# Training (not the tests, not the demo) can also use text-to-speech digits for the audio branch; making
# them needs the Debian packages flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
# (`scripts/make_tts_digits.sh --install` installs them as root, then writes data/tts_digits/).
set -euo pipefail
cd "$(dirname "$0")/.."
SYSTEM_PACKAGES="espeak-ng sox ffmpeg libportaudio2 xvfb xdotool chromium chromium-driver tesseract-ocr
  flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"
if [ "${1:-}" = "--system" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=$(for p in $SYSTEM_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
    if [ -n "$missing" ]; then
      echo "installing system packages: $missing"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    fi
  else
    echo "not root or no apt-get: install these yourself for the full test suite: $SYSTEM_PACKAGES" >&2
  fi
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing Python packages into .venv (torch comes from this machine's disk; a few minutes)"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  echo "$want" > "$stamp"
fi
