#!/usr/bin/env bash
# The whole test suite from a fresh clone: system packages (where root), .venv, lint, pytest.
# Tests that need the full data sets look in $DIGITS_DATA, then ../shared/data, and skip (naming
# the data set) where neither has them; real samples committed in tests/data/ and generated
# fixtures (tests/fixtures.py) cover the rest, so the suite passes on a machine without data.
#   scripts/test.sh                      # everything; arguments go to pytest (e.g. -x -q tests/test_audio.py)
#   scripts/test.sh -m "not slow"        # without training, evaluation and browser tests
#   DIGITS_HIDE_DATA=1 scripts/test.sh   # as on a machine without the data sets
# With CI=true (.ci/run) the suite runs a second time with the data hidden and must pass again.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --system
.venv/bin/ruff check core demo scripts tests
.venv/bin/python -m pytest "$@"
if [ "${CI:-}" = true ] && [ -z "${DIGITS_HIDE_DATA:-}" ]; then
  echo "== the same suite without the data sets (DIGITS_HIDE_DATA=1), as on a stranger's machine =="
  start=$(date +%s)
  DIGITS_HIDE_DATA=1 .venv/bin/python -m pytest "$@"
  echo "== no-data run passed in $(( $(date +%s) - start )) s =="
fi
