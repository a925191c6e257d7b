#!/usr/bin/env bash
# Train everything the recognizer ships, seeded, and write it to checkpoints/:
#   digits  every branch of the digit model and its fusion head, calibrated -> digits.pt + digits.json
#           (python -m core.train; about 35 minutes on 2 CPU cores)
#   reader  the line reader for photos of numbers -> reader.pt + reader.json
#           (python -m core.train_reader; a 25-minute budget)
# then the benchmark table and the evaluation report (reports/, git-ignored; about 20 minutes).
#
#   scripts/train_core.sh                        # everything; data from $DIGITS_DATA, else ../shared/data, else ./data
#   scripts/train_core.sh --only reader          # one part: digits | audio | reader (audio: the audio branch,
#                                                #   then the fusion head and calibration that depend on it)
#   scripts/train_core.sh --data-dir DIR ...     # other flags go to `python -m core.train` (digits, audio)
# Leave-one-speaker-out (twelve audio trainings, about 1.5 hours) is measured apart:
#   .venv/bin/python scripts/benchmark_audio.py --loso
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
ONLY=all
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --only) ONLY=${2:?--only needs one of: digits audio reader}; shift 2 ;;
    --only=*) ONLY=${1#--only=}; shift ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
case "$ONLY" in all|digits|audio|reader) ;; *) echo "--only: unknown part '$ONLY' (digits, audio or reader)" >&2; exit 2 ;; esac
if [ -z "${DIGITS_DATA:-}" ]; then
  if [ -d ../shared/data/mnist ]; then export DIGITS_DATA=../shared/data; else export DIGITS_DATA=data; fi
fi
echo "data: $DIGITS_DATA"
# the reader takes only its data folder from the flags meant for core.train
READER_ARGS=()
for ((i = 0; i < ${#ARGS[@]}; i++)); do
  case "${ARGS[$i]}" in
    --data-dir) READER_ARGS+=(--data-dir "${ARGS[$((i + 1))]}") ;;
    --data-dir=*) READER_ARGS+=("${ARGS[$i]}") ;;
  esac
done
# 1. the digit model: stages image, strokes, audio, fusion, calibrate; the card's test numbers are measured after them
if [ "$ONLY" = all ] || [ "$ONLY" = digits ]; then "$PY" -m core.train ${ARGS[@]+"${ARGS[@]}"}; fi
if [ "$ONLY" = audio ]; then "$PY" -m core.train --stages audio,fusion,calibrate ${ARGS[@]+"${ARGS[@]}"}; fi
# 2. the line reader: CTC on synthetic lines written by training writers, chosen on held-out writers
if [ "$ONLY" = all ] || [ "$ONLY" = reader ]; then "$PY" -m core.train_reader ${READER_ARGS[@]+"${READER_ARGS[@]}"}; fi
[ "$ONLY" = all ] || exit 0
# 3. the benchmark tables for README (test sets, canvas drawings, latency, size; photos of numbers and peers)
"$PY" scripts/benchmark_core.py --out reports/benchmark_core.md
"$PY" scripts/benchmark_reader.py --out reports/benchmark_reader.md
# 4. the evaluation report: metrics, ablations, fusion methods, drawings, calibration, t-SNE, peers (reports/README.md)
"$PY" -m core.evaluate --out reports
