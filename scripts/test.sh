#!/usr/bin/env bash
# The whole test suite from a fresh clone: system packages (where root), .venv, lint, pytest.
# Tests that need the real data sets look in $DIGITS_DATA, then ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --system
.venv/bin/ruff check core demo scripts tests
.venv/bin/python -m pytest "$@"
