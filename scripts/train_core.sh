#!/usr/bin/env bash
# Train everything the recognizer ships, seeded, and write it to checkpoints/:
#   digits  every branch of the digit model and its fusion head, calibrated -> digits.pt + digits.json
#           (python -m core.train; about 35 minutes on 2 CPU cores)
#   sphinx  the PocketSphinx expert's two weights for the audio branch, fitted on speakers it never heard
#           (python -m core.fit_sphinx: six audio trainings, one per left-out FSDD speaker, two at a time; 13 minutes)
#           -> sphinx.json; after digits and audio, whose digits.pt it is tied to
#   reader  the line reader for photos of numbers -> reader.pt + reader.json
#           (python -m core.train_reader; a 25-minute budget)
#   characters  the 62-class model (digits, A-Z, a-z: image and stroke branches, their fusion) -> characters.pt +
#           characters.json (python -m core.train --model characters; a 30-minute budget)
# then the benchmark tables and the evaluation report (reports/, git-ignored; about 20 minutes).
#
#   scripts/train_core.sh                        # everything; data from $DIGITS_DATA, else ../shared/data, else ./data
#   scripts/train_core.sh --only reader          # one part: digits | audio | sphinx | reader | characters (audio:
#                                                #   the audio branch, then the fusion head, calibration and sphinx weights)
#   scripts/train_core.sh --model characters     # the same as --only characters (--model digits: --only digits)
#   scripts/train_core.sh --data-dir DIR ...     # other flags go to `python -m core.train` (digits, audio)
#   scripts/train_core.sh --nproc 2 ...          # the digit and characters models under torchrun: 2 processes here
#                                                #   (core/distributed.py); --only characters --nproc 2: that model alone
#   scripts/train_core.sh --nproc 4 --nnodes 2 --rdzv-endpoint HOST:PORT ...   # on each of 2 machines
#   scripts/train_core.sh --device cuda ...      # the branch stages on the GPU (cuda:LOCAL_RANK); also the characters model's
# The committed checkpoints come from one process. DRY_RUN=1 prints the commands instead of running them.
# Leave-one-speaker-out (twelve audio trainings, about an hour) is measured apart:
#   .venv/bin/python scripts/benchmark_audio.py --loso
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
run() { if [ -n "${DRY_RUN:-}" ]; then echo "$*"; else "$@"; fi; }
# --only and torchrun's flags are taken out; everything else goes to core.train
ONLY=all NPROC="" NNODES="" ENDPOINT="" TRAIN=()
while [ $# -gt 0 ]; do
  case "$1" in
    --only|--model|--nproc|--nnodes|--rdzv-endpoint)
      [ $# -ge 2 ] || { echo "$1 needs a value" >&2; exit 2; }
      case "$1" in --only|--model) ONLY=$2 ;; --nproc) NPROC=$2 ;; --nnodes) NNODES=$2 ;; --rdzv-endpoint) ENDPOINT=$2 ;; esac
      shift 2 ;;
    --only=*|--model=*) ONLY=${1#*=}; shift ;;
    --nproc=*) NPROC=${1#*=}; shift ;;
    --nnodes=*) NNODES=${1#*=}; shift ;;
    --rdzv-endpoint=*) ENDPOINT=${1#*=}; shift ;;
    *) TRAIN+=("$1"); shift ;;
  esac
done
case "$ONLY" in all|digits|audio|sphinx|reader|characters) ;; *) echo "--only: unknown part '$ONLY' (digits, audio, sphinx, reader or characters)" >&2; exit 2 ;; esac
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
# the reader takes only its data folder from the flags meant for core.train; the characters model also --device.
# DATA and STAGES: core.train's data folder (the last --data-dir, as argparse takes it) and stages
READER=() CHARS=() DATA=$DIGITS_DATA STAGES=audio
for ((i = 0; i < ${#TRAIN[@]}; i++)); do
  case "${TRAIN[$i]}" in  # a flag without its value stops here, before any text-to-speech digits are made
    --data-dir|--device|--stages) [[ "${TRAIN[$((i + 1))]:---}" != --* ]] || { echo "${TRAIN[$i]} needs a value" >&2; exit 2; } ;;
  esac
  case "${TRAIN[$i]}" in
    --data-dir) READER+=(--data-dir "${TRAIN[$((i + 1))]:-}") DATA=${TRAIN[$((i + 1))]:-} ;;
    --data-dir=*) READER+=("${TRAIN[$i]}") DATA=${TRAIN[$i]#--data-dir=} ;;
    --device) CHARS+=(--device "${TRAIN[$((i + 1))]:-}") ;;
    --device=*) CHARS+=("${TRAIN[$i]}") ;;
    --stages) STAGES=${TRAIN[$((i + 1))]:-} ;;
    --stages=*) STAGES=${TRAIN[$i]#--stages=} ;;
  esac
done
CHARS=(${READER[@]+"${READER[@]}"} ${CHARS[@]+"${CHARS[@]}"})
# with --tts, the text-to-speech digits the audio branch trains on (core/tts.py: flite and festival, never espeak-ng):
# DATA/tts_digits where it exists, else made once in ./data/tts_digits (git-ignored; the data folder itself is only
# read); --tts-dir DIR leaves this to the caller
made() { [ -f "$1/manifest.json" ] && [ -f "$1/words/manifest.json" ]; }  # digits and words (core.tts writes both)
case "$ONLY" in all|digits|audio)
  case " ${TRAIN[*]-} :$STAGES" in *" --no-tts "*|*" --tts-dir"*|*:image|*:strokes|*:image,strokes|*:strokes,image) ;;
  *" --tts "*)
    TTS_DIR=$DATA/tts_digits
    if ! made "$TTS_DIR" && [ "$TTS_DIR" != data/tts_digits ]; then TTS_DIR=data/tts_digits TRAIN+=(--tts-dir data/tts_digits); fi
    made "$TTS_DIR" || run "$PY" -m core.tts --out "$TTS_DIR" ;;
  esac ;;
esac
train_torch() {  # core.train with the given extra flags, in one process or under torchrun (both models)
  if [ -z "$NPROC" ]; then
    run "$PY" -m core.train "$@"
  elif [ -z "$ENDPOINT" ]; then  # one machine: torchrun picks a free port itself
    run "${TORCHRUN[@]}" --standalone --nproc-per-node "$NPROC" -m core.train "$@"
  else  # several machines meet at the endpoint (run this on each)
    run "${TORCHRUN[@]}" --nnodes "${NNODES:-1}" --nproc-per-node "$NPROC" \
      --rdzv-backend c10d --rdzv-endpoint "$ENDPOINT" -m core.train "$@"
  fi
}
# 1. the digit model: stages image, strokes, audio, fusion, calibrate; the card's test numbers are measured after them
if [ "$ONLY" = all ] || [ "$ONLY" = digits ]; then train_torch ${TRAIN[@]+"${TRAIN[@]}"}; fi
if [ "$ONLY" = audio ]; then train_torch --stages audio,fusion,calibrate ${TRAIN[@]+"${TRAIN[@]}"}; fi
# the PocketSphinx expert's weights, fitted for the digits.pt just written (its data folder only)
case "$ONLY" in all|digits|audio|sphinx) run "$PY" -m core.fit_sphinx ${READER[@]+"${READER[@]}"} ;; esac
# 2. the line reader: CTC on synthetic lines written by training writers, chosen on held-out writers
if [ "$ONLY" = all ] || [ "$ONLY" = reader ]; then run "$PY" -m core.train_reader ${READER[@]+"${READER[@]}"}; fi
# 3. the characters model: FEMNIST, MNIST and UNIPEN letters and digits; epochs chosen on validation writers
#    (its data folder and --device; under torchrun with --nproc, like the digit model)
if [ "$ONLY" = all ] || [ "$ONLY" = characters ]; then train_torch --model characters ${CHARS[@]+"${CHARS[@]}"}; fi
[ "$ONLY" = all ] || exit 0
# 4. the benchmark tables for README (test sets, canvas drawings, latency, size; photos of numbers and peers)
run "$PY" scripts/benchmark_core.py --out reports/benchmark_core.md
run "$PY" scripts/benchmark_reader.py --out reports/benchmark_reader.md
run "$PY" scripts/benchmark_characters.py --out reports/benchmark_characters.md
# 5. the evaluation report: metrics, ablations, fusion methods, drawings, calibration, t-SNE, peers (reports/README.md)
run "$PY" -m core.evaluate --out reports
