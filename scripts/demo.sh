#!/usr/bin/env bash
# Install what the demo needs into .venv, then open the web app (flags go to demo.app).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m demo.app "$@"
