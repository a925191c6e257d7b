#!/usr/bin/env bash
# Train every branch and the fusion head, then write checkpoints/digits.pt and its model card.
# Training reproduces the committed checkpoints on 2 CPU cores in about 30 minutes; the
# benchmark and the evaluation report take about 15 more.
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
# 1. all four stages, seeded; --loso adds the leave-one-speaker-out measurement to the model card
"$PY" -m core.train --loso "$@"
# 2. the benchmark table for README (accuracy on the test sets, latency, size)
"$PY" scripts/benchmark_core.py --out reports/benchmark_core.md
# 3. the evaluation report: metrics, ablations, fusion methods, calibration, t-SNE, peers (reports/README.md)
"$PY" -m core.evaluate --out reports
