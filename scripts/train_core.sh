#!/usr/bin/env bash
# Train every branch and the fusion head, calibrate, then write checkpoints/digits.pt and its model card.
# Training reproduces the committed checkpoints on 2 CPU cores in about 30 minutes; the
# benchmark (with leave-one-speaker-out, about 15 minutes of audio trainings) and the evaluation
# report take about 30 more.
#   scripts/train_core.sh                      # data from $DIGITS_DATA, else ../shared/data, else ./data
#   scripts/train_core.sh --data-dir DIR ...   # extra flags go to `python -m core.train`
#   scripts/train_core.sh --nproc 2 ...        # training under torchrun: 2 processes on this machine (core/distributed.py)
#   scripts/train_core.sh --nproc 4 --nnodes 2 --rdzv-endpoint HOST:PORT ...   # on each of 2 machines
# The committed checkpoints come from one process. DRY_RUN=1 prints the commands instead of running them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
run() { if [ -n "${DRY_RUN:-}" ]; then echo "$*"; else "$@"; fi; }
# torchrun's flags are taken out; everything else goes to core.train
NPROC="" NNODES="" ENDPOINT="" TRAIN=()
while [ $# -gt 0 ]; do
  case "$1" in
    --nproc|--nnodes|--rdzv-endpoint)
      [ $# -ge 2 ] || { echo "$1 needs a value" >&2; exit 2; }
      case "$1" in --nproc) NPROC=$2 ;; --nnodes) NNODES=$2 ;; --rdzv-endpoint) ENDPOINT=$2 ;; esac
      shift 2 ;;
    --nproc=*) NPROC=${1#*=}; shift ;;
    --nnodes=*) NNODES=${1#*=}; shift ;;
    --rdzv-endpoint=*) ENDPOINT=${1#*=}; shift ;;
    *) TRAIN+=("$1"); shift ;;
  esac
done
if [ -z "$NPROC" ] && [ -n "$NNODES$ENDPOINT" ]; then
  echo "--nnodes and --rdzv-endpoint need --nproc (processes per machine)" >&2; exit 2
fi
if [ "${NNODES:-1}" != 1 ] && [ -z "$ENDPOINT" ]; then
  echo "--nnodes $NNODES needs --rdzv-endpoint HOST:PORT, where the machines meet" >&2; exit 2
fi
TORCHRUN=("$(dirname "$PY")/torchrun")  # ships with torch
[ -x "${TORCHRUN[0]}" ] || TORCHRUN=("$PY" -m torch.distributed.run)
if [ -z "${DIGITS_DATA:-}" ]; then
  if [ -d ../shared/data/mnist ]; then export DIGITS_DATA=../shared/data; else export DIGITS_DATA=data; fi
fi
echo "data: $DIGITS_DATA"
# 1. stages image, strokes, audio, fusion, calibrate, seeded; the card's test numbers are measured after them
if [ -z "$NPROC" ]; then
  run "$PY" -m core.train "${TRAIN[@]}"
elif [ -z "$ENDPOINT" ]; then  # one machine: torchrun picks a free port itself
  run "${TORCHRUN[@]}" --standalone --nproc-per-node "$NPROC" -m core.train "${TRAIN[@]}"
else  # several machines meet at the endpoint (run this on each)
  run "${TORCHRUN[@]}" --nnodes "${NNODES:-1}" --nproc-per-node "$NPROC" \
    --rdzv-backend c10d --rdzv-endpoint "$ENDPOINT" -m core.train "${TRAIN[@]}"
fi
# 2. the benchmark table for README: test sets, tuples, canvas drawings (test and validation), latency, size;
#    --loso measures FSDD leave-one-speaker-out here, choosing the epochs inside each fold
run "$PY" scripts/benchmark_core.py --loso --out reports/benchmark_core.md
# 3. the evaluation report: metrics, ablations, fusion methods, drawings, calibration, t-SNE, peers (reports/README.md)
run "$PY" -m core.evaluate --out reports
