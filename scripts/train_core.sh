#!/usr/bin/env bash
# Train every branch and the fusion head, calibrate, then write checkpoints/digits.pt and its model card.
# Training reproduces the committed checkpoints on 2 CPU cores in about 30 minutes; the
# benchmark (with leave-one-speaker-out, about 15 minutes of audio trainings) and the evaluation
# report take about 30 more.
#   scripts/train_core.sh                      # data from $DIGITS_DATA, else ../shared/data, else ./data
#   scripts/train_core.sh --data-dir DIR ...   # extra flags go to `python -m core.train`
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
if [ -z "${DIGITS_DATA:-}" ]; then
  if [ -d ../shared/data/mnist ]; then export DIGITS_DATA=../shared/data; else export DIGITS_DATA=data; fi
fi
echo "data: $DIGITS_DATA"
# 1. stages image, strokes, audio, fusion, calibrate, seeded; the card's test numbers are measured after them
"$PY" -m core.train "$@"
# 2. the benchmark table for README: test sets, tuples, canvas drawings (test and validation), latency, size;
#    --loso measures FSDD leave-one-speaker-out here, choosing the epochs inside each fold
"$PY" scripts/benchmark_core.py --loso --out reports/benchmark_core.md
# 3. the evaluation report: metrics, ablations, fusion methods, drawings, calibration, t-SNE, peers (reports/README.md)
"$PY" -m core.evaluate --out reports
